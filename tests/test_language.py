"""The Transformer's decoder: ``transformer_lm``'s cache, generation, tied embeddings and
positions; the sampling every ``generate`` shares; ``zoo generate``."""

from __future__ import annotations

import math
from collections import Counter

import keras
import numpy as np
import pytest

import recipes
import zoo
from zoo.cli import main as cli
from zoo.data.sequences import python_docs_text
from zoo.models.language import token_sampler
from zoo.text import encode, next_id

SMALL = dict(zoo.registry.get_entry("transformer_lm").test_overrides)


@pytest.fixture(scope="module")
def lm():
    keras.utils.set_random_seed(0)
    return zoo.build("transformer_lm", **SMALL)


def test_cached_steps_give_the_full_pass_probabilities(lm):
    x = np.random.default_rng(0).integers(1, 97, (1, 12)).astype("int32")
    full = np.asarray(lm(x, training=False))
    probs, cache = lm.call_with_cache(x[:, :5], lm.empty_cache(), 0)  # prefill five tokens
    np.testing.assert_allclose(probs[0], full[0, :5], atol=1e-5)
    for i in range(5, 12):  # then one token at a time, reading the cache
        probs, cache = lm.call_with_cache(x[:, i : i + 1], cache, i)
        np.testing.assert_allclose(probs[0, 0], full[0, i], atol=1e-5)


def test_cached_generation_equals_recomputing_the_context(lm):
    cached = lm.generate("abc", 9, temperature=0)  # 3 + 9 = the 12-token window
    assert cached == lm.generate("abc", 9, temperature=0, use_cache=False)
    assert len(cached) == 9


def test_generation_past_the_window_is_seeded_and_bounded(lm):
    text = lm.generate("def ", 40, temperature=1.0, top_k=5, seed=3)
    assert len(text) == 40 and text == lm.generate("def ", 40, temperature=1.0, top_k=5, seed=3)
    assert lm.generate("", 5, temperature=0)  # an empty prompt starts a new line


def test_input_and_output_embeddings_are_tied(lm):
    vocab_by_dim = [w for w in lm.weights if tuple(w.shape) == (97, SMALL["embedding_dim"])]
    assert len(vocab_by_dim) == 1  # one matrix embeds the input and scores the output
    assert not any(isinstance(layer, keras.layers.Dense) for layer in lm.layers)


def test_sinusoidal_positions_have_no_weights_and_round_trip(tmp_path):
    learned = zoo.build("transformer_lm", **SMALL)
    fixed = zoo.build("transformer_lm", **SMALL, positional_encoding="sinusoidal")
    assert fixed.count_params() == learned.count_params() - 12 * SMALL["embedding_dim"]
    small_text = zoo.registry.get_entry("transformer_text").test_overrides
    text = zoo.build("transformer_text", **small_text, positional_encoding="sinusoidal")
    x = np.random.default_rng(1).integers(1, 50, (2, 12)).astype("int32")
    text.save(tmp_path / "t.keras")
    again = keras.saving.load_model(tmp_path / "t.keras")
    np.testing.assert_allclose(again(x), text(x), atol=1e-6)
    with pytest.raises(zoo.InvalidArgumentError, match="positional_encoding"):
        zoo.build("transformer_lm", **SMALL, positional_encoding="rotary")


def test_sampling_keeps_top_k_and_top_p():
    probs = np.array([0.0, 0.5, 0.3, 0.15, 0.05])
    rng = np.random.default_rng(0)
    assert next_id(probs, 1.0, rng, top_k=1) == 1 == next_id(probs, 0.0, rng)
    assert {next_id(probs, 1.0, rng, top_k=2) for _ in range(200)} == {1, 2}
    assert {next_id(probs, 1.0, rng, top_p=0.5) for _ in range(50)} == {1}
    assert {next_id(probs, 1.0, rng, top_p=0.75) for _ in range(200)} == {1, 2}
    assert {next_id(probs, 1.0, rng) for _ in range(500)} == {1, 2, 3, 4}  # never 0


@pytest.mark.parametrize("top_k", [None, 1, 3])
@pytest.mark.parametrize("top_p", [None, 0.6, 0.95])
def test_the_in_graph_sampler_picks_what_next_id_picks(top_k, top_p):
    pick = token_sampler(never=0, top_k=top_k)
    for trial in range(40):
        rng = np.random.default_rng(trial)
        probs = rng.dirichlet(np.full(20, 0.5)).astype("float32")
        temperature = [0.0, 0.7, 1.0, 1.6][trial % 4]
        u = np.random.default_rng(100 + trial).random()  # what next_id's one draw will be
        expected = next_id(probs, temperature, np.random.default_rng(100 + trial), top_k, top_p)
        got = pick(probs, np.float32(u), np.float32(temperature), np.float32(top_p or 1.0))
        assert int(got) == expected, (trial, temperature)


@pytest.mark.parametrize(
    "keywords, fragment",
    [
        ({"top_p": 0.0}, "top_p"),
        ({"top_k": 0}, "top_k"),
        ({"temperature": -1}, "temperature"),
        ({"length": -2}, "length"),
    ],  # fmt: skip
)
def test_bad_sampling_keywords_are_named(lm, keywords, fragment):
    with pytest.raises(zoo.InvalidArgumentError, match=fragment):
        lm.generate("a", **{"length": 3, **keywords})


def test_zoo_generate_writes_after_the_prompt(lm, tmp_path, capsys):
    path = tmp_path / "lm.keras"
    lm.save(path)
    code = cli(["generate", str(path), "--prompt", "ab", "--length", "6", "--top-k", "3",
                "--seed", "2"])  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out == "ab" + lm.generate("ab", 6, top_k=3, seed=2) + "\n"
    zoo.build("mnist_mlp").save(tmp_path / "mlp.keras")
    assert cli(["generate", str(tmp_path / "mlp.keras"), "--prompt", "x"]) == 2
    assert "not a language model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(["generate", str(path), "--prompt", "x", "--top-p", "1.5"])


def test_transformer_lm_trains_on_python_docs_with_its_own_window(tmp_path):
    res = recipes.train("transformer_lm", epochs=1, batch_size=64, out_dir=tmp_path, verbose=0,
                        overrides={**SMALL, "sequence_length": 48})  # fmt: skip
    assert res.model.input_shape == (None, 48)  # python_docs made 48-character windows
    assert res.report["evaluation"]["perplexity"] > 1.0
    assert 0.0 <= res.report["evaluation"]["bleu_char"] <= 1.0


@pytest.mark.slow
def test_transformer_lm_beats_unigram_perplexity(tmp_path):
    counts = Counter(encode(python_docs_text()).tolist())
    total = sum(counts.values())
    unigram = math.exp(-sum(c / total * math.log(c / total) for c in counts.values()))
    res = recipes.train("transformer_lm", epochs=3, out_dir=tmp_path, verbose=0)
    assert res.report["evaluation"]["perplexity"] < unigram / 2
    loaded = keras.saving.load_model(res.files["model"])
    greedy = res.model.generate("The ", 30, temperature=0)
    assert loaded.generate("The ", 30, temperature=0) == greedy


@pytest.mark.parametrize("name", ["transformer_lm", "transformer_seq2seq"])
def test_a_width_the_heads_cannot_split_is_named(name):
    with pytest.raises(zoo.InvalidArgumentError, match=r"embedding_dim \(10\).*num_heads \(4\)"):
        zoo.build(name, embedding_dim=10, num_heads=4)
