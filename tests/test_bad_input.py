"""Bad input, as a new user types it: every case ends in a ZooError (the CLI: exit 2, one or
two lines on stderr, no traceback) whose message names the thing and a remedy, and leaves an
existing run folder byte-identical."""

from __future__ import annotations

import hashlib
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest

import recipes
import zoo
from zoo.cli import main

# --------------------------------------------------------------------------- fixtures


def _csv(path: Path, header: str, rows: list[str]) -> str:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return str(path)


def _rows(n: int = 40, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"{rng.normal():.3f},{rng.normal():.3f},{i % 2}" for i in range(n)]


@pytest.fixture
def run_dir(tmp_path):
    """An earlier run's folder: nothing a rejected command does may change it."""
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    for name, data in {
        "model.keras": b"earlier model",
        "metrics.json": b'{"metrics": {}}',
        "training_log.csv": b"epoch,loss\n0,1.0\n",
        "checkpoints/best.keras": b"earlier best",
    }.items():
        (out / name).write_bytes(data)
    return out


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def lambda_model(tmp_path):
    import keras

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2.0)(inputs))
    path = tmp_path / "lambda.keras"
    model.save(path)
    return path


@pytest.fixture
def small_model_file(tmp_path):
    model = zoo.build("mnist_mlp", units=(8,), input_shape=(4,), num_classes=2)
    path = tmp_path / "small.keras"
    model.save(path)
    return path


@pytest.fixture
def truncated_model(small_model_file, tmp_path):
    path = tmp_path / "truncated.keras"
    data = small_model_file.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def expect(exc_type, *words):
    """``pytest.raises`` that also checks the message names each of ``words``."""

    class Check:
        def __enter__(self):
            self.ctx = pytest.raises(exc_type)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self.ctx.__exit__(*exc)
            if not handled:
                return False  # another exception: let it show
            message = str(self.info.value)
            for word in words:
                assert word.lower() in message.lower(), (word, message)
            return handled

    return Check()


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    "keywords, words",
    [
        ({"learning_rate": -1.0}, ["learning_rate", "> 0", "-1.0"]),
        ({"learning_rate": 0.0}, ["learning_rate", "> 0"]),
        ({"learning_rate": math.nan}, ["learning_rate", "finite", "nan"]),
        ({"learning_rate": math.inf}, ["learning_rate", "finite", "inf"]),
        ({"learning_rate": "fast"}, ["learning_rate", "'fast'"]),
        ({"clipnorm": -1.0}, ["clipnorm", "> 0"]),
        ({"clipvalue": math.nan}, ["clipvalue", "finite"]),
        ({"global_clipnorm": 0}, ["global_clipnorm", "> 0"]),
        ({"weight_decay": -0.1}, ["weight_decay", ">= 0"]),
        ({"steps_per_execution": 0}, ["steps_per_execution", ">= 1"]),
        ({"unitz": (8,)}, ["unitz", "did you mean", "units"]),
        ({"units": "many"}, ["units", "expects"]),
        ({"dropout": [0.5]}, ["dropout", "expects"]),
    ],
)
def test_build_rejects_bad_keywords(keywords, words):
    with expect(zoo.InvalidArgumentError, *words):
        zoo.build("mnist_mlp", **keywords)


def test_build_names_the_closest_model():
    with expect(zoo.UnknownModelError, "mnist_mpl", "mnist_mlp"):
        zoo.build("mnist_mpl")


@pytest.mark.parametrize(
    "keywords, words",
    [
        ({"epochs": 0}, ["epochs", ">= 1"]),
        ({"epochs": -3}, ["epochs", ">= 1"]),
        ({"epochs": 2.5}, ["epochs", "whole number"]),
        ({"batch_size": 0}, ["batch_size", ">= 1"]),
        ({"seed": -1}, ["seed", "between 0 and"]),
        ({"seed": 2**40}, ["seed", "between 0 and"]),
        ({"learning_rate": -1.0}, ["learning_rate", "> 0"]),
        ({"learning_rate": math.nan}, ["learning_rate", "finite"]),
        ({"fine_tune_lr": -1e-4}, ["fine_tune_lr", "> 0"]),
        ({"fine_tune_epochs": -1}, ["fine_tune_epochs", ">= 0"]),
        ({"overrides": {"learning_rate": -2.0}}, ["learning_rate", "> 0"]),
        ({"dataset": "mnist_5kk"}, ["mnist_5kk", "did you mean", "mnist_5k"]),
    ],
)
def test_train_rejects_bad_settings_before_touching_the_run(keywords, words, run_dir):
    before = _snapshot(run_dir)
    exc = zoo.UnknownDatasetError if "dataset" in keywords else zoo.InvalidArgumentError
    with expect(exc, *words):
        recipes.train("mnist_mlp", out_dir=run_dir, verbose=0, **keywords)
    assert _snapshot(run_dir) == before


def test_train_out_dir_that_is_a_file(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    with expect(zoo.InvalidArgumentError, "notes.txt", "is a file", "folder"):
        recipes.train("mnist_mlp", out_dir=target, epochs=1, verbose=0)
    with expect(zoo.InvalidArgumentError, "notes.txt", "is a file"):
        recipes.train("mnist_mlp", out_dir=target / "sub", epochs=1, verbose=0)
    assert target.read_text() == "keep me"


def test_task_flag_only_for_csv_files(run_dir):
    with expect(zoo.InvalidArgumentError, "task", "CSV", "Drop --task"):
        recipes.train("mnist_mlp", task="regression", out_dir=run_dir, epochs=1, verbose=0)


def test_tune_rejects_bad_numbers(tmp_path):
    with expect(zoo.InvalidArgumentError, "max_trials", ">= 1"):
        zoo.tune("mnist_mlp", max_trials=0, directory=tmp_path)
    with expect(zoo.InvalidArgumentError, "epochs", ">= 1"):
        zoo.tune("mnist_mlp", epochs=-1, directory=tmp_path)
    with expect(zoo.InvalidArgumentError, "tuner", "random"):
        zoo.tune("mnist_mlp", tuner="genetic", directory=tmp_path)


# --------------------------------------------------------------------------- CSV files


def _load(path: str, **options):
    return zoo.data.load_raw(path, **options)


def test_csv_nan_and_empty_labels_name_the_rows(tmp_path):
    rows = _rows()
    rows[4], rows[9] = "1.0,2.0,NaN", "1.0,2.0,"
    with expect(zoo.DataFormatError, "rows 6, 11", "'label'", "empty or NaN", "fill"):
        _load(_csv(tmp_path / "d.csv", "a,b,label", rows))


def test_csv_malformed_number_is_an_error_not_text(tmp_path):
    rng = np.random.default_rng(1)
    rows = [f"{rng.normal():.3f},{i % 2}" for i in range(30)] + ["1.2.3,0"]
    with expect(zoo.DataFormatError, "row 32", "column 'x'", "'1.2.3'", "not a number"):
        _load(_csv(tmp_path / "one.csv", "x,label", rows))


def test_csv_malformed_cell_among_many_columns(tmp_path):
    rows = _rows()
    rows[2] = "0.5,abc,1"
    with expect(zoo.DataFormatError, "row 4", "column 'b'", "'abc'"):
        _load(_csv(tmp_path / "d.csv", "a,b,label", rows))


@pytest.mark.parametrize(
    "cell, words",
    [
        ("1e300", ["column 'a'", "float32", "row(s) 42", "rescale"]),
        ("inf", ["column 'a'", "not finite", "row(s) 42"]),
        ("nan", ["column 'a'", "not finite", "row(s) 42"]),
        ("-1e39", ["column 'a'", "float32"]),
    ],
)
def test_csv_values_that_are_not_float32_numbers(tmp_path, cell, words):
    path = _csv(tmp_path / "d.csv", "a,b,label", [*_rows(), f"{cell},2,1"])
    with expect(zoo.DataFormatError, *words):
        _load(path)


def test_csv_many_whole_number_labels_ask_for_the_task(tmp_path):
    rng = np.random.default_rng(2)
    rows = [f"{rng.normal():.3f},{rng.normal():.3f},{20 + i}" for i in range(60)]
    path = _csv(tmp_path / "ages.csv", "a,b,label", rows)
    with expect(zoo.DataFormatError, "60 distinct whole numbers", "--task regression"):
        _load(path)
    assert _load(path, task="regression").info.task == "regression"
    assert _load(path, task="classification").info.num_classes == 60


def test_csv_non_utf8_is_named(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(("a,b,label\n" + "\n".join(_rows()) + "\n1,2,caf\xe9\n").encode("latin-1"))
    with expect(zoo.DataFormatError, "latin.csv", "row 42", "not UTF-8", "iconv"):
        _load(str(path))


def test_csv_with_bom_and_semicolons_loads(tmp_path):
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + ("a,b,label\n" + "\n".join(_rows())).encode())
    assert _load(str(bom)).info.class_names == ["0", "1"]
    semi = _csv(tmp_path / "semi.csv", "a;b;label", [r.replace(",", ";") for r in _rows()])
    info = _load(semi).info
    assert info.element_shape == (2,) and info.num_classes == 2


@pytest.mark.parametrize(
    "header, rows, words",
    [
        ("a,b,target", _rows(), ["no column 'label'", "target", "label_column"]),
        ("a,b,label", _rows()[:5], ["only 5 data rows", "at least 10"]),
        ("a,b,label", [*_rows(), "1,2"], ["row 42", "2 fields", "header has 3"]),
        ("a,b,label", [r[:-1] + "1" for r in _rows()], ["single class"]),
        ("label", [str(i % 2) for i in range(20)], ["no feature columns"]),
    ],
)
def test_csv_structure_errors(tmp_path, header, rows, words):
    with expect(zoo.DataFormatError, *words):
        _load(_csv(tmp_path / "d.csv", header, rows))


def test_csv_empty_file(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with expect(zoo.DataFormatError, "empty.csv", "empty"):
        _load(str(tmp_path / "empty.csv"))


def test_training_on_a_bad_csv_leaves_the_run_folder_alone(tmp_path, run_dir):
    rows = _rows()
    rows[0] = "1,2,nan"
    path = _csv(tmp_path / "d.csv", "a,b,label", rows)
    before = _snapshot(run_dir)
    with expect(zoo.DataFormatError, "row 2", "NaN"):
        recipes.train("mnist_mlp", dataset=path, out_dir=run_dir, epochs=1, verbose=0)
    assert _snapshot(run_dir) == before


def test_arrays_with_non_finite_features_are_refused():
    from zoo.data.core import DatasetInfo, from_arrays

    x = np.ones((30, 3), "float32")
    x[7, 1] = np.nan
    info = DatasetInfo("mine", "classification", "tabular", (3,), num_classes=2)
    with expect(zoo.DataFormatError, "mine", "column 1", "not finite", "row(s) 7"):
        from_arrays(x, np.arange(30) % 2, info, seed=0)


# --------------------------------------------------------------------------- image folders


def _image_folder(root: Path, per_class: int = 4) -> Path:
    from PIL import Image

    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            arr = np.random.default_rng(i).integers(0, 255, (12, 12, 3)).astype("uint8")
            Image.fromarray(arr).save(root / label / f"{i}.png")
    return root


def test_every_broken_image_is_named_before_training(tmp_path):
    root = _image_folder(tmp_path / "imgs")
    good = (root / "cat" / "0.png").read_bytes()
    (root / "cat" / "1.png").write_bytes(good[: len(good) // 2])  # truncated: header fine
    (root / "dog" / "2.png").write_bytes(b"not an image")
    with expect(zoo.DataFormatError, "2 image(s)", "cat/1.png", "dog/2.png", "remove"):
        _load(str(root))


@pytest.mark.parametrize("layout", ["one_class", "empty_class"])
def test_image_folder_layout_errors(tmp_path, layout):
    root = _image_folder(tmp_path / "imgs")
    if layout == "one_class":
        import shutil

        shutil.rmtree(root / "dog")
        words = ["one subfolder per class", "at least 2"]
    else:
        (root / "bird").mkdir()
        words = ["bird", "no images"]
    with expect(zoo.DataFormatError, *words):
        _load(str(root))


def test_missing_path_is_named(tmp_path):
    with expect(zoo.ZooError, "nowhere", "no such file or folder"):
        _load(str(tmp_path / "nowhere" / "data.csv"))
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    with expect(zoo.DataFormatError, "data.parquet", "unsupported file type", ".csv"):
        _load(str(tmp_path / "data.parquet"))


# --------------------------------------------------------------------------- model files


def test_truncated_keras_file_is_reported_as_corrupt(truncated_model):
    from zoo.loading import load_trained

    with expect(zoo.DataFormatError, "truncated.keras", "corrupt or truncated"):
        load_trained(truncated_model)


def test_text_file_named_keras_is_reported_as_corrupt(tmp_path):
    from zoo.loading import load_trained

    path = tmp_path / "fake.keras"
    path.write_text("hello")
    with expect(zoo.DataFormatError, "fake.keras", "corrupt"):
        load_trained(path)


def test_damaged_zip_member_is_named(small_model_file, tmp_path):
    from zoo.loading import load_trained

    path = tmp_path / "damaged.keras"
    with zipfile.ZipFile(small_model_file) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            if item.filename != "config.json":
                dst.writestr(item, src.read(item))
    with expect(zoo.DataFormatError, "damaged.keras", "no config.json"):
        load_trained(path)


def test_lambda_layer_needs_an_explicit_opt_in(lambda_model):
    from zoo.loading import load_trained

    with expect(zoo.InvalidArgumentError, "lambda.keras", "Lambda", "trusted=True", "--trust-code"):
        load_trained(lambda_model)
    model, _, _ = load_trained(lambda_model, trusted=True)
    assert np.allclose(model(np.ones((1, 3), "float32")), 2.0)


def test_missing_model_file_and_untrained_name(tmp_path, monkeypatch):
    from zoo.loading import load_trained

    with expect(zoo.InvalidArgumentError, "No model file", "gone.keras"):
        load_trained(tmp_path / "gone.keras")
    monkeypatch.chdir(tmp_path)
    with expect(zoo.InvalidArgumentError, "zoo train mnist_cnn"):
        load_trained("mnist_cnn")


def test_report_beside_the_model_that_is_not_json(small_model_file):
    from zoo.loading import load_trained

    small_model_file.with_name("metrics.json").write_text("{not json")
    with expect(zoo.DataFormatError, "metrics.json", "not valid JSON", "Delete it"):
        load_trained(small_model_file)


def test_bert_config_that_is_not_json(tmp_path):
    from zoo.models.bert import write_tiny_checkpoint

    ckpt = write_tiny_checkpoint(tmp_path / "bert")
    (ckpt / "config.json").write_text("{'model_type': 'bert'")  # Python, not JSON
    with expect(zoo.DataFormatError, "config.json", "not valid JSON"):
        zoo.build("bert_classifier", checkpoint=str(ckpt), num_classes=2)


def test_bert_checkpoint_folder_missing(tmp_path):
    with expect(zoo.InvalidArgumentError, "no folder", "nowhere"):
        zoo.build("bert_classifier", checkpoint=str(tmp_path / "nowhere"), num_classes=2)


# --------------------------------------------------------------------------- export


def test_export_rejects_bad_options(small_model_file, tmp_path):
    with expect(zoo.InvalidArgumentError, "bogus", "saved_model"):
        zoo.export(small_model_file, tmp_path / "e1", formats=["bogus"])
    with expect(zoo.InvalidArgumentError, "int4", "dynamic"):
        zoo.export(small_model_file, tmp_path / "e2", formats=["tflite"], quantize="int4")
    with expect(zoo.InvalidArgumentError, "Quantization applies to TFLite"):
        zoo.export(small_model_file, tmp_path / "e3", formats=["onnx"], quantize="int8")
    (tmp_path / "file").write_text("x")
    with expect(zoo.InvalidArgumentError, "is a file"):
        zoo.export(small_model_file, tmp_path / "file")
    assert not (tmp_path / "e1").exists() and not (tmp_path / "e2").exists()


def test_export_uses_the_data_the_user_gave(tmp_path, offline_home):
    """Int8 with representative_data: no recipe dataset is loaded (CIFAR-10 is not here)."""
    model = zoo.build("cifar10_cnn", filters=(4,), dense_units=8)
    x = np.random.default_rng(0).random((32, 32, 32, 3), dtype="float32")
    report = zoo.export(
        model, tmp_path / "out", formats=["tflite"], quantize="int8", representative_data=x
    )
    manifest = report.manifest
    assert manifest["calibration_data"] == "representative_data (given)"
    assert manifest["parity_data"] == "representative_data (given)"
    assert manifest["artifacts"]["tflite_int8"]["parity"]["samples"] == 32


# --------------------------------------------------------------------------- the CLI


def _cli(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--lr", "-1"], ["--lr", "> 0"]),
        (["--lr", "nan"], ["--lr", "finite"]),
        (["--lr", "fast"], ["--lr", "not a number"]),
        (["--epochs", "0"], ["--epochs", ">= 1"]),
        (["--epochs", "two"], ["--epochs", "not a number"]),
        (["--batch-size", "-5"], ["--batch-size", ">= 1"]),
        (["--seed", "-1"], ["--seed", "between 0"]),
        (["--fine-tune-lr", "0"], ["--fine-tune-lr", "> 0"]),
        (["--schedule", "linear"], ["--schedule", "invalid choice", "cosine"]),
        (["--set", "unitz=3"], ["unitz", "units"]),
        (["--set", "novalue"], ["--set", "key=value"]),
        (["--dataset", "mnist_5kk"], ["mnist_5kk", "mnist_5k"]),
        (["--resume"], ["Nothing to resume", "without --resume"]),
        (["--task", "regression"], ["task", "CSV"]),
    ],
)
def test_cli_train_errors_are_short_and_leave_the_run_alone(capsys, run_dir, argv, words):
    before = _snapshot(run_dir)
    code, err = _cli(capsys, "train", "mnist_mlp", "--out", str(run_dir), *argv)
    assert code == 2
    assert 1 <= len(err.strip().splitlines()) <= 2, err
    for word in words:
        assert word.lower() in err.lower(), (word, err)
    assert _snapshot(run_dir) == before


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "mnist_mpl"], ["mnist_mpl", "mnist_mlp"]),
        (["info", "nosuch"], ["nosuch", "zoo list"]),
        (["tune", "mnist_mlp", "--max-trials", "0"], ["--max-trials", ">= 1"]),
        (["evaluate", "mnist_mlp", "--batch-size", "0"], ["--batch-size", ">= 1"]),
        (["export", "x.h5"], ["x.h5", "does not exist", ".keras"]),
        (["evaluate", "pyproject.toml"], ["pyproject.toml", "is not a .keras file"]),
        (["frobnicate"], ["invalid choice"]),
    ],
)
def test_cli_other_commands(capsys, tmp_path, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    code, err = _cli(capsys, *argv)
    assert code == 2
    assert 1 <= len(err.strip().splitlines()) <= 2, err
    for word in words:
        assert word.lower() in err.lower(), (word, err)


def test_cli_model_files(capsys, truncated_model, lambda_model, tmp_path):
    for argv, words in [
        (["evaluate", str(truncated_model), "--dataset", "digits"], ["corrupt or truncated"]),
        (["export", str(truncated_model)], ["corrupt or truncated"]),
        (["evaluate", str(lambda_model), "--dataset", "digits"], ["Lambda", "--trust-code"]),
        (["export", str(lambda_model), "--out", str(tmp_path / "e")], ["Lambda", "--trust-code"]),
    ]:
        code, err = _cli(capsys, *argv)
        assert code == 2 and len(err.strip().splitlines()) <= 2, err
        for word in words:
            assert word in err, (word, err)
    assert not (tmp_path / "e").exists()


def test_cli_bad_csv_names_row_and_column(capsys, tmp_path, run_dir):
    rng = np.random.default_rng(3)
    rows = [f"{rng.normal():.3f},{i % 2}" for i in range(30)] + ["1.2.3,0"]
    path = _csv(tmp_path / "one.csv", "x,label", rows)
    before = _snapshot(run_dir)
    code, err = _cli(capsys, "train", "mnist_mlp", "--dataset", path, "--out", str(run_dir))
    assert code == 2 and "row 32" in err and "'x'" in err
    assert _snapshot(run_dir) == before


def test_tune_dir_that_is_a_file(tmp_path):
    (tmp_path / "search").write_text("x")
    with expect(zoo.InvalidArgumentError, "--dir", "search", "is a file"):
        zoo.tune("mnist_mlp", directory=tmp_path / "search", max_trials=1)


def test_unwritable_output_folder_is_named(tmp_path, monkeypatch):
    """(Tests run as root, who may write anywhere: the permission answer is simulated.)"""
    import os

    from zoo.staging import check_output_folder

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    with expect(zoo.InvalidArgumentError, "--out", "no permission to write", "locked"):
        check_output_folder(locked / "run", "--out")
