"""``transformer_seq2seq`` and ``date_pairs``: an honest held-out split, teacher forcing,
cross-attention and the causal mask, greedy and beam decoding, ``zoo predict --text``."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import recipes
import zoo
from zoo.cli import main as cli
from zoo.data.sequences import date_pair_texts
from zoo.text import decode, encode

SMALL = dict(zoo.get_entry("transformer_seq2seq").test_overrides)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return zoo.build("transformer_seq2seq", **SMALL)


def test_test_dates_never_appear_in_training():
    sources, targets, splits = date_pair_texts(3000, seed=1)
    train = {t for t, s in zip(targets, splits) if s == "train"}
    held = {t for t, s in zip(targets, splits) if s != "train"}
    assert not train & held and len(held) == 600
    assert all(len(t) == 10 and t[4] == "-" == t[7] for t in targets)


def test_decoder_input_is_the_target_shifted_right():
    raw = zoo.data.load_raw("date_pairs", size=200)
    x, y = next(iter(raw.test.batch(3)))
    dec_in, dec_out = x["decoder_ids"].numpy(), y.numpy()
    assert (dec_in[:, 0] == encode("\n")[0]).all()
    np.testing.assert_array_equal(dec_in[:, 1:], dec_out[:, :-1])
    assert all(decode(row).endswith("\n") for row in dec_out)


def test_cross_attention_reads_the_source_and_the_mask_is_causal(model):
    rng = np.random.default_rng(0)
    src = rng.integers(1, 90, (2, 12)).astype("int32")
    tgt = rng.integers(1, 90, (2, 6)).astype("int32")
    base = np.asarray(model([src, tgt], training=False))
    other = src.copy()
    other[:, 3] = (other[:, 3] % 80) + 5
    assert not np.allclose(np.asarray(model([other, tgt], training=False)), base)
    later = tgt.copy()
    later[:, 4] = (later[:, 4] % 80) + 5  # a later target token cannot change earlier outputs
    changed = np.asarray(model([src, later], training=False))
    np.testing.assert_allclose(changed[:, :4], base[:, :4], atol=1e-6)
    assert not np.allclose(changed[:, 4:], base[:, 4:])


def _log_probability(model, source: np.ndarray, ids: np.ndarray) -> float:
    start = encode("\n")[0]
    target = np.concatenate([[start], ids[:-1]])[None].astype("int32")
    probs = np.asarray(model([source[None], target], training=False), "float64")[0]
    end = int(np.argmax(ids == start)) if (ids == start).any() else len(ids) - 1
    return float(sum(np.log(probs[i, ids[i]]) for i in range(end + 1)))


def test_beam_search_finds_a_target_at_least_as_probable_as_greedy(model):
    sources = model.encode_sources(["25 November 2026", "1 jan 1999", "3/4/2001"])
    greedy = model.greedy(sources)
    for source, g in zip(sources, greedy):
        assert np.array_equal(model.beam(source, width=1), g)  # one beam is greedy
        b = model.beam(source, width=4)
        assert _log_probability(model, source, b) >= _log_probability(model, source, g) - 1e-6


def test_zoo_predict_prints_the_decoded_text(model, tmp_path, capsys):
    model.save(tmp_path / "s2s.keras")
    assert cli(["predict", str(tmp_path / "s2s.keras"), "--text", "25 November 2026"]) == 0
    decoded, text = capsys.readouterr().out.rstrip("\n").split("\t")
    assert text == "25 November 2026" and decoded == model.translate("25 November 2026")[0]


@pytest.mark.slow
def test_dates_are_translated_exactly(tmp_path):
    res = recipes.train("transformer_seq2seq", out_dir=tmp_path, verbose=0)
    evaluation = res.report["evaluation"]
    assert evaluation["exact_match"] >= 0.95, evaluation["examples"]
    assert evaluation["exact_match_beam"] >= 0.95
    assert evaluation["bleu_char"] > 0.9
    assert res.model.translate("Wednesday, 25 November 2026") == ["2026-11-25"]


def test_encoder_and_one_decoder_step_export_to_tflite_and_decode_alike(model, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    reports = model.export_parts(tmp_path)
    assert set(reports) == {"encoder", "decoder_step"}
    encoder = Interpreter(str(tmp_path / "encoder" / "encoder.tflite")).get_signature_runner()
    step = Interpreter(str(tmp_path / "decoder_step" / "decoder_step.tflite"))
    step = step.get_signature_runner()
    sources = model.encode_sources(["25 November 2026", "3/4/2001"])
    start, length = encode("\n")[0], model.config["target_length"]
    for source, expected in zip(sources, model.greedy(sources)):
        states = next(iter(encoder(encoder_ids=source[None]).values()))
        target = np.zeros((1, length), "int32")
        target[0, 0] = start
        decoded = []
        for i in range(length):  # the phone's loop: the encoder once, one step per character
            probs = next(iter(step(decoder_ids=target, encoder_states=states,
                                   encoder_ids=source[None]).values()))  # fmt: skip
            decoded.append(int(probs[0, i].argmax()))
            if i + 1 < length:
                target[0, i + 1] = decoded[-1]
        decoded = np.asarray(decoded)
        ended = np.cumsum(decoded == start) - (decoded == start) > 0
        np.testing.assert_array_equal(np.where(ended, 0, decoded), expected)
