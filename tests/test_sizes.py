"""Size on every card: parameters and forward FLOPs per sample, counted from the layers."""

from __future__ import annotations

import pytest

import zoo
from zoo.cli import main
from zoo.sizes import count_flops, entry_size


def _conv(h: int, w: int, k: int, c_in: int, c_out: int) -> int:
    return h * w * c_out * 2 * k * k * c_in  # multiply-adds count 2


def test_cifar10_cnn_flops_match_a_count_by_hand():
    """Its six 3x3 convolutions and two dense layers, from the layer shapes."""
    by_hand = (
        _conv(32, 32, 3, 3, 32) + _conv(32, 32, 3, 32, 32)
        + _conv(16, 16, 3, 32, 64) + _conv(16, 16, 3, 64, 64)
        + _conv(8, 8, 3, 64, 128) + _conv(8, 8, 3, 128, 128)
        + 2 * 2048 * 128 + 2 * 128 * 10
    )  # fmt: skip
    flops = zoo.info("cifar10_cnn", size=True)["flops"]
    assert flops == pytest.approx(by_hand, rel=0.02)
    assert flops >= by_hand  # normalization and activations come on top, never less


def test_mobilenet_v2_flops_match_the_paper():
    """MobileNetV2 1.0 at 224: 300 million multiply-adds (Sandler et al., table 3)."""
    flops = entry_size("mobilenet_v2_transfer")["flops"]
    assert flops / 2 == pytest.approx(300e6, rel=0.06)


def test_params_split_trainable_and_frozen():
    size = entry_size("resnet50_transfer")
    p = size["params"]
    assert p["total"] == p["trainable"] + p["non_trainable"]
    assert p["non_trainable"] > 23e6 and p["trainable"] < 1e6  # the frozen ImageNet backbone
    mlp = zoo.build("mnist_mlp", compile=False)
    assert entry_size("mnist_mlp")["params"]["total"] == mlp.count_params()


def test_recurrent_and_attention_layers_are_counted():
    for name in ("lstm_text", "gru_text", "bilstm_text", "transformer_text"):
        model = zoo.build(name, compile=False)
        flops, uncounted = count_flops(model)
        assert flops > 0 and uncounted == [], (name, uncounted)
    lstm, _ = count_flops(zoo.build("lstm_text", compile=False, units=(8, 8)))
    gru, _ = count_flops(zoo.build("gru_text", compile=False, units=(8, 8)))
    assert lstm > gru  # four gates against three


def test_cli_info_shows_size_and_summary(capsys):
    assert main(["info", "mnist_mlp"]) == 0
    out = capsys.readouterr().out
    assert "109,386 parameters" in out and "MFLOPs per sample" in out
    assert main(["info", "mnist_mlp", "--summary"]) == 0
    assert "dense" in capsys.readouterr().out.lower()


def test_size_of_a_model_that_cannot_be_built_offline_is_said(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    entry_size.cache_clear()
    card = zoo.info("bert_classifier", size=True)
    assert card["params"] is None and card["size_note"]
