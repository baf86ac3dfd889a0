"""``gpt2_lm``: a checkpoint ``transformers`` wrote gives the same token ids and logits;
fine-tuning on raw strings; generation; what is refused."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import tiny_gpt2_checkpoint

import zoo
from zoo.cli import main as cli
from zoo.models.gpt2 import write_tiny_gpt2_checkpoint

TEXTS = ["Return the number of items.", "Open the file and read it.", "def f(x): return x"]


@pytest.fixture(scope="module")
def transformers_checkpoint(tmp_path_factory):
    """The tiny tokenizer, with weights that transformers' own GPT2LMHeadModel wrote."""
    import torch  # the test extra installs CPU torch
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = write_tiny_gpt2_checkpoint(tmp_path_factory.mktemp("hf-gpt2"))
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config.from_pretrained(folder)).eval()
    model.save_pretrained(folder, safe_serialization=True)
    return folder, model


@pytest.fixture(scope="module")
def lm():
    return zoo.build("gpt2_lm", checkpoint=tiny_gpt2_checkpoint(), sequence_length=16)


def test_token_ids_and_logits_equal_transformers(transformers_checkpoint):
    import torch
    from transformers import AutoTokenizer

    folder, reference = transformers_checkpoint
    model = zoo.build("gpt2_lm", checkpoint=str(folder), sequence_length=16)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    for text in TEXTS:
        assert model.token_ids(text) == tokenizer(text)["input_ids"]
    ids = np.asarray([tokenizer(TEXTS[0])["input_ids"][:12]])
    with torch.no_grad():
        expected = reference(torch.tensor(ids)).logits.numpy()
    np.testing.assert_allclose(model.logits(ids), expected, atol=1e-4)


def test_sequence_length_is_the_callers_and_bounded(lm):
    assert lm.input_shape == (None, 16)
    with pytest.raises(zoo.InvalidArgumentError, match="exceeds the checkpoint's 128"):
        zoo.build("gpt2_lm", checkpoint=tiny_gpt2_checkpoint(), sequence_length=129)


def test_fine_tunes_on_raw_strings():
    model = zoo.build("gpt2_lm", checkpoint=tiny_gpt2_checkpoint(), sequence_length=16,
                      learning_rate=1e-2)  # fmt: skip
    history = model.fit(TEXTS * 4, epochs=4, batch_size=4, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0] * 0.8, losses


def test_generate_is_text_and_the_cache_changes_nothing(lm):
    greedy = lm.generate("Return the", 8, top_k=1)
    assert isinstance(greedy, str) and greedy
    assert greedy == lm.generate("Return the", 8, top_k=1, use_cache=False)
    sampled = lm.generate("Return the", 30, temperature=0.9, top_p=0.9, seed=4)
    assert sampled == lm.generate("Return the", 30, temperature=0.9, top_p=0.9, seed=4)


def test_zoo_generate_with_a_saved_gpt2(lm, tmp_path, capsys):
    lm.save(tmp_path / "gpt2.keras")
    assert cli(["generate", str(tmp_path / "gpt2.keras"), "--prompt", "Open", "--length", "5",
                "--top-k", "1"]) == 0  # fmt: skip
    assert capsys.readouterr().out == "Open" + lm.generate("Open", 5, top_k=1) + "\n"


def test_pickle_and_foreign_checkpoints_are_refused(tmp_path):
    (tmp_path / "pickled").mkdir()
    (tmp_path / "pickled" / "pytorch_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(zoo.InvalidArgumentError, match="safetensors only"):
        zoo.build("gpt2_lm", checkpoint=str(tmp_path / "pickled"))
    from helpers import tiny_checkpoint

    with pytest.raises(zoo.InvalidArgumentError, match="'bert' checkpoint"):
        zoo.build("gpt2_lm", checkpoint=tiny_checkpoint())


def test_offline_hub_handle_fails_fast(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(zoo.WeightsUnavailableError, match="pass checkpoint=DIR"):
        zoo.build("gpt2_lm", checkpoint="hf://openai-community/gpt2")


def test_zoo_train_reads_python_docs_in_the_checkpoints_tokens(tmp_path):
    import recipes

    checkpoint = tiny_gpt2_checkpoint()
    res = recipes.train("gpt2_lm", epochs=1, batch_size=64, out_dir=tmp_path, verbose=0,
                        overrides={"checkpoint": checkpoint, "sequence_length": 16,
                                   "learning_rate": 3e-3})  # fmt: skip
    vocabulary = res.model.backbone.vocabulary_size
    assert res.report["dataset"]["num_classes"] == vocabulary  # BPE windows, not characters
    options = zoo.data.loader_options(zoo.get_entry("gpt2_lm"), "python_docs", 16,
                                      {"checkpoint": checkpoint})  # fmt: skip
    first = next(iter(zoo.data.load_raw("python_docs", **options).test))[0].numpy()
    assert first.shape == (16,) and first.max() >= 97  # past the characters: BPE ids
    assert res.report["evaluation"]["perplexity"] < vocabulary / 4  # it learned something
    assert 0.0 <= res.report["evaluation"]["bleu_char"] <= 1.0


def test_zoo_train_fine_tunes_on_a_text_file(tmp_path, capsys):
    from zoo.data.sequences import python_docs_text

    notes = tmp_path / "notes.txt"
    notes.write_text(python_docs_text(6000), encoding="utf-8")
    out = tmp_path / "run"
    tiny = ["--set", f"checkpoint={tiny_gpt2_checkpoint()}", "--set", "sequence_length=16"]
    code = cli(["train", "gpt2_lm", "--dataset", str(notes), "--epochs", "1", "--out", str(out),
                *tiny])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    import json

    report = json.loads((out / "metrics.json").read_text())
    assert report["dataset"]["name"] == str(notes)
    assert report["evaluation"]["perplexity"] > 1.0
    (tmp_path / "short.txt").write_text("too short", encoding="utf-8")
    assert cli(["train", "gpt2_lm", "--dataset", str(tmp_path / "short.txt"), *tiny]) == 2
    assert "at least 10" in capsys.readouterr().err
