"""Export: every entry's claimed formats pass parity; layout, atomicity, quantization, CLI."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from helpers import build_small, sample_inputs, training_batch

import zoo
from zoo import exporting
from zoo.cli import main as cli

NAMES = zoo.list_models()
#: keras.applications backbones: their full export (every format and quantization) is slow;
#: the fast tier checks their SavedModel parity (test_backbones_export_a_savedmodel_with_parity)
BACKBONES = [n for n in NAMES if n.endswith("_transfer")]


def _tiny_classifier(name: str = "tiny") -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)],
        name=name,
    )


def _tiny_lstm(unroll: bool = False) -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((10,), dtype="int32"),
            keras.layers.Embedding(50, 8),
            keras.layers.LSTM(16, unroll=unroll),
            keras.layers.Dense(3, activation="softmax"),
        ],
        name="tiny_lstm",
    )


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in BACKBONES else n for n in NAMES]
)
def test_entry_exports_every_claimed_format_with_parity(name, tmp_path):
    entry = zoo.get_entry(name)
    model = build_small(name)
    model.train_on_batch(*training_batch(entry, model, n=16))  # not the initial weights
    x = sample_inputs(model, n=16)
    quants = [None, *entry.quantizations] if "tflite" in entry.exports else []
    report = zoo.export(
        model,
        tmp_path / name,
        formats=entry.exports,
        quantize=quants or None,
        representative_data=sample_inputs(model, n=32, seed=1),
        validation_data=x,
        name=name,
    )
    arts = report.manifest["artifacts"]
    expected = {f for f in entry.exports if f != "tflite"}
    expected |= {"tflite" if q is None else f"tflite_{q}" for q in quants}
    assert set(arts) == expected
    for key, art in arts.items():
        assert report.files[key].exists()
        assert art["size_bytes"] > 0
        assert np.isfinite(art["parity"]["max_abs_diff"])
        if art["quantization"] is None:
            assert art["parity"]["max_abs_diff"] <= entry.export_tolerance, key
    assert report.manifest["preprocessing"] == entry.preprocessing
    assert report.manifest["inputs"][0]["shape"] == list(model.inputs[0].shape)


@pytest.mark.parametrize("name", BACKBONES)
def test_backbones_export_a_savedmodel_with_parity(name, tmp_path):
    """The fast tier's export check for the large backbones, at their smallest input size."""
    entry = zoo.get_entry(name)
    model = build_small(name)
    model.train_on_batch(*training_batch(entry, model, n=4))
    report = zoo.export(model, tmp_path / name, formats=["saved_model"],
                        validation_data=sample_inputs(model, n=4), name=name)  # fmt: skip
    parity = report.manifest["artifacts"]["saved_model"]["parity"]
    assert parity["samples"] == 4 and parity["max_abs_diff"] <= entry.export_tolerance


def test_layout_versions_and_manifest(tmp_path):
    model = _tiny_classifier()
    out = tmp_path / "tiny"
    first = zoo.export(model, out, formats=["saved_model", "tflite", "onnx"], labels=list("abc"))
    assert first.version == 1
    assert (out / "1" / "saved_model.pb").is_file()
    assert sorted(p.name for p in out.iterdir()) == ["1", "export.json", "tiny.onnx", "tiny.tflite"]
    stamp = (out / "1" / "saved_model.pb").stat().st_mtime_ns
    second = zoo.export(model, out, formats=["saved_model"])
    assert second.version == 2 and (out / "2" / "saved_model.pb").is_file()
    assert (out / "1" / "saved_model.pb").stat().st_mtime_ns == stamp  # never overwritten
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["version"] == 2
    assert manifest["inputs"] == [
        {"name": model.inputs[0].name, "shape": [None, 6], "dtype": "float32"}
    ]
    assert manifest["outputs"][0]["shape"] == [None, 3]
    assert {"keras", "tensorflow", "ai_edge_litert", "onnxruntime"} <= set(manifest["versions"])
    assert first.manifest["labels"] == ["a", "b", "c"]


def test_saved_model_serves_through_tfsmlayer(tmp_path):
    model = _tiny_classifier()
    report = zoo.export(model, tmp_path / "m", formats=["saved_model"])
    layer = keras.layers.TFSMLayer(str(report.files["saved_model"]), call_endpoint="serve")
    x = np.random.default_rng(0).random((5, 6), dtype="float32")
    np.testing.assert_allclose(layer(x), model.predict(x, verbose=0), atol=1e-6)


def test_mnist_mlp_int8_is_small_and_agrees(tmp_path):
    import recipes

    run = recipes.train("mnist_mlp", epochs=3, out_dir=tmp_path / "run", verbose=0)
    report = zoo.export(
        run.files["model"],
        tmp_path / "out",
        formats=["tflite"],
        quantize=[None, "int8"],
        samples=5000,
    )
    arts = report.manifest["artifacts"]
    assert arts["tflite_int8"]["size_bytes"] <= 0.30 * arts["tflite"]["size_bytes"]
    par = arts["tflite_int8"]["parity"]
    assert par["samples"] == 500  # the whole mnist_5k test split, with its labels
    assert par["top1_agreement"] >= 0.99
    assert abs(par["accuracy"] - par["accuracy_keras"]) <= 0.01
    assert report.manifest["labels"] == [str(i) for i in range(10)]  # from the run's report


def test_lstm_exports_builtins_only_tflite(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    report = zoo.export(_tiny_lstm(), tmp_path / "lstm", formats=["tflite"])
    art = report.manifest["artifacts"]["tflite"]
    assert art["parity"]["batch"] == 1  # static batch: the only builtins-only form of a loop
    assert art["parity"]["max_abs_diff"] <= 1e-5
    ops = {o["op_name"] for o in Interpreter(str(report.files["tflite"]))._get_ops_details()}
    assert ops and not any(op.startswith("Flex") for op in ops), ops


def test_unrolled_lstm_quantizes_to_int8(tmp_path):
    model = _tiny_lstm(unroll=True)
    x = np.random.default_rng(0).integers(0, 50, (64, 10)).astype("int32")
    report = zoo.export(
        model, tmp_path / "u", formats=["tflite"], quantize="int8", representative_data=x
    )
    assert report.manifest["artifacts"]["tflite_int8"]["parity"]["batch"] == "dynamic"


def test_converter_crash_is_a_clear_error_and_writes_nothing(tmp_path):
    x = np.random.default_rng(0).integers(0, 50, (32, 10)).astype("int32")
    with pytest.raises(zoo.ExportError, match="crashed.*unroll=True"):
        zoo.export(
            _tiny_lstm(),
            tmp_path / "crash",
            formats=["saved_model", "tflite"],
            quantize="int8",
            representative_data=x,
        )
    assert not (tmp_path / "crash").exists()


def test_parity_failure_is_loud_and_writes_nothing(tmp_path, monkeypatch):
    real = exporting._run_onnx
    monkeypatch.setattr(exporting, "_run_onnx", lambda *a: real(*a) + 1e-3)
    out = tmp_path / "bad"
    out.mkdir()
    with pytest.raises(zoo.ParityError, match="onnx output differs from Keras by 0.001"):
        zoo.export(_tiny_classifier(), out, formats=["saved_model", "onnx"])
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"formats": ["pb"]}, "Unknown export format"),
        ({"formats": ["tflite"], "quantize": "int4"}, "Unknown quantization 'int4'"),
        ({"formats": ["onnx"], "quantize": "int8"}, "add 'tflite' to formats"),
        ({"formats": ["tflite"], "quantize": "int8"}, "needs representative_data"),
        ({"formats": ["onnx"], "validation_data": np.zeros((2, 5))}, r"expects \[6\]"),
    ],
)
def test_bad_arguments(kwargs, message, tmp_path):
    with pytest.raises(zoo.InvalidArgumentError, match=message):
        zoo.export(_tiny_classifier(), tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


def test_bad_paths(tmp_path):
    with pytest.raises(zoo.InvalidArgumentError, match="a .keras file, or the name"):
        zoo.export(tmp_path / "model.h5", tmp_path / "x")
    with pytest.raises(zoo.InvalidArgumentError, match="No model file"):
        zoo.export(tmp_path / "missing.keras", tmp_path / "x")


def test_cli_exports_a_model_the_zoo_did_not_build(tmp_path, capsys):
    path = tmp_path / "mine.keras"
    _tiny_classifier("mine").save(path)
    out = tmp_path / "exported"
    rc = cli(
        [
            "export",
            str(path),
            "--out",
            str(out),
            "--quantize",
            "float32",
            "--quantize",
            "dynamic",
            "--formats",
            "saved_model,tflite",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "SavedModel version 1" in text and "mine_dynamic.tflite" in text
    assert {"1", "mine.tflite", "mine_dynamic.tflite", "export.json"} == {
        p.name for p in out.iterdir()
    }


def test_cli_export_of_an_untrained_name_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli(["export", "mnist_mlp"]) == 2
    assert "run `zoo train mnist_mlp` first" in capsys.readouterr().err


def test_recipe_data_is_prepared_as_in_training(tmp_path):
    """Raw-pixel models calibrate on 0-255 images; text models on the saved vocabulary's ids."""
    from PIL import Image

    for label in ("a", "b"):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(6):
            arr = np.random.default_rng(i).integers(0, 255, (40, 40, 3)).astype("uint8")
            Image.fromarray(arr).save(tmp_path / "imgs" / label / f"{i}.png")
    model = build_small("mobilenet_v2_transfer", num_classes=2)
    xs, ys = exporting._recipe_data(
        "mobilenet_v2_transfer", model, {}, "train", 8, dataset=str(tmp_path / "imgs")
    )
    assert xs[0].shape[1:] == (32, 32, 3) and xs[0].max() > 2.0  # raw pixels, not [0, 1]


def test_trained_text_model_exports_with_its_vocabulary(tmp_path, monkeypatch):
    import recipes

    monkeypatch.chdir(tmp_path)
    recipes.train("gru_text", epochs=2, verbose=0,
                  overrides={"sequence_length": 24, "vocab_size": 500, "embedding_dim": 16,
                             "units": (16,), "dense_units": 8})  # fmt: skip
    report = zoo.export("gru_text", formats=["tflite"], quantize=[None, "dynamic"])
    par = report.manifest["artifacts"]["tflite_dynamic"]["parity"]
    assert par["samples"] == 200 and "accuracy" in par  # the labelled test split, as ids
    assert report.manifest["labels"] == ["negative", "positive"]
