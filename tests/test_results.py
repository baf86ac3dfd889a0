"""The results table: one row per entry, recipe targets, the card's ``results`` key."""

import csv
from pathlib import Path

import pytest

import recipes
import zoo
from benchmarks import results as table
from zoo.results import TABLE, lower_is_better, measured, read_rows


def test_every_registered_entry_has_a_row_with_a_number_or_a_reason():
    rows = read_rows()
    assert set(rows) == set(zoo.list_models()), "rerun: python -m benchmarks results --merge"
    for name, row in rows.items():
        assert row["metric"] == recipes.get(name).target_metric, name
        if row["status"] == "measured":
            values = [float(v) for v in row["values"].split()]
            assert len(values) == int(row["seeds"]) == 3, name
            assert float(row["mean"]) == pytest.approx(sum(values) / 3, abs=1e-4), name
            assert float(row["std"]) >= 0 and row["machine"] and row["date"], name
        else:
            assert row["status"] == "not run" and row["reason"], name
            assert not row["mean"], f"{name}: a row that did not run has no number"


def test_rows_on_generated_data_say_so():
    rows = read_rows()
    assert rows["lstm_timeseries"]["data"] == "generated"  # waveforms
    assert rows["gru_text"]["data"] == "generated"  # synthetic_reviews
    assert rows["mnist_mlp"]["data"] == "real"


def test_no_random_weights_number_for_a_transfer_entry():
    for name in zoo.list_models(tag="transfer"):
        row = read_rows()[name]
        assert row["status"] == "not run" or row["data"] == "real", name
        assert row["published"], f"{name}: its backbone's ImageNet top-1 stands beside it"


def test_every_recipe_states_a_target_and_which_way_it_points():
    for name in zoo.list_models():
        recipe = recipes.get(name)
        assert recipe.target is not None, name
        assert recipe.meets_target(recipe.target)
    mlp, regressor = recipes.get("mnist_mlp"), recipes.get("mlp_regressor")
    assert mlp.target_metric == "test_accuracy" and mlp.meets_target(0.99)
    assert not mlp.meets_target(0.5)
    assert regressor.target_metric == "test_rmse" and regressor.meets_target(1.0)
    assert not regressor.meets_target(1e6)
    assert recipes.get("transformer_seq2seq").target_metric == "exact_match"
    assert recipes.get("gan").target_metric == "frechet_distance"


@pytest.mark.parametrize(
    ("metric", "lower"),
    [("test_accuracy", False), ("exact_match", False), ("test_rmse", True),
     ("test_perplexity", True), ("frechet_distance", True), ("test_loss", True)],
)  # fmt: skip
def test_direction_of_each_metric(metric, lower):
    assert lower_is_better(metric) is lower


def test_metric_value_reads_the_test_metrics_then_the_report():
    report = {"evaluation": {"exact_match": 0.97, "frechet_distance": 12.5}}
    assert table.metric_value({"test_accuracy": 0.9}, report, "test_accuracy") == 0.9
    assert table.metric_value({}, report, "exact_match") == 0.97
    with pytest.raises(KeyError, match="bleu"):
        table.metric_value({"test_loss": 1.0}, report, "bleu")


def test_zoo_info_shows_the_measured_accuracy_and_the_published_one(capsys):
    from zoo.cli import main

    row = read_rows()["mnist_mlp"]
    assert main(["info", "mnist_mlp"]) == 0
    out = capsys.readouterr().out
    assert f"measured: test_accuracy {float(row['mean']):.4g} ± " in out
    assert "published: test_accuracy 0.984 on MNIST (60k train)" in out
    card = zoo.info("mnist_mlp")["results"]
    assert card["measured"]["value"] == float(row["mean"])
    assert card["measured"]["dataset"] == "mnist_5k" and card["measured"]["seeds"] == 3
    assert card["published"]["source"].endswith("mnist_mlp.py")


def test_card_of_an_entry_that_could_not_run_gives_the_reason(capsys):
    from zoo.cli import main

    assert main(["info", "resnet50_transfer"]) == 0
    out = capsys.readouterr().out
    assert "measured: not run (" in out and "published: top1_accuracy 0.749" in out
    assert measured("no_such_entry") is None


def test_results_command_measures_merges_and_explains(tmp_path, monkeypatch, offline_home):
    """--only reruns one entry, --merge keeps the others, a missing dataset gives a reason."""
    monkeypatch.setenv("ZOO_OFFLINE", "1")  # the data's download check answers at once
    out_csv, out_md = tmp_path / "accuracy.csv", tmp_path / "ACCURACY.md"
    common = ["--csv", str(out_csv), "--markdown", str(out_md), "--seeds", "2"]
    assert table.main(["--only", "perceptron", *common]) == 0
    assert table.main(["--only", "cifar10_cnn", "--merge", *common]) == 0
    rows = read_rows(out_csv)
    assert list(rows) == ["cifar10_cnn", "perceptron"]  # registry order
    perceptron = rows["perceptron"]
    assert perceptron["status"] == "measured" and perceptron["data"] == "real"
    assert len(perceptron["values"].split()) == 2 and perceptron["meets_target"] == "True"
    assert float(perceptron["params"]) == 31  # 30 features and a bias
    cifar = rows["cifar10_cnn"]
    assert cifar["status"] == "not run" and "no local copy of cifar10" in cifar["reason"]
    markdown = out_md.read_text()
    assert "| `perceptron` | breast_cancer | real | test_accuracy |" in markdown
    assert "## Not run here" in markdown and "`cifar10_cnn`" in markdown
    assert not list(tmp_path.glob(".*.tmp")), "no half-written table is left behind"
    assert table.main(["--only", "perceptron", *common]) == 0  # without --merge: one row
    assert list(read_rows(out_csv)) == ["perceptron"]


def test_stated_columns_follow_the_code_and_measured_ones_stay():
    stale = {"entry": "mnist_mlp", "status": "measured", "mean": "0.92", "target": "0.5",
             "meets_target": "True", "published": "", "values": "0.91 0.92 0.93"}  # fmt: skip
    row = table.current_columns(stale)
    assert row["target"] == recipes.get("mnist_mlp").target == 0.93
    assert row["meets_target"] is False and row["values"] == "0.91 0.92 0.93"
    assert row["published"] == 0.984 and row["published_source"].endswith("mnist_mlp.py")


def test_a_transfer_entry_names_everything_it_misses(offline_home, monkeypatch):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    weights = zoo.errors.WeightsUnavailableError("mobilenet_v2_transfer: ImageNet weights ...")
    reason = table.why_not_run(weights, "tf_flowers")
    assert reason.startswith("no local copy of tf_flowers") and "pretrained weights" in reason
    data = zoo.errors.DatasetUnavailableError("Dataset 'cifar10' is not on this machine ...")
    assert table.why_not_run(data, "cifar10") == "no local copy of cifar10 (it needs a download)"


def test_results_command_refuses_an_unknown_entry_before_training(tmp_path, capsys):
    assert table.main(["--only", "perceptron,mnist_mpl", "--csv", str(tmp_path / "a.csv")]) == 2
    assert "mnist_mpl" in capsys.readouterr().err
    assert not (tmp_path / "a.csv").exists()


def test_the_shipped_table_is_package_data():
    with TABLE.open(newline="") as f:
        header = next(csv.reader(f))
    assert tuple(header) == table.FIELDS


def test_the_readme_quotes_the_table():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    rows = read_rows()
    for name in ("mnist_mlp", "mnist_cnn"):
        row = rows[name]
        assert f"`{name}` {float(row['mean']):.3f} ± {float(row['std']):.3f}" in readme, name
    measured = [r for r in rows.values() if r["status"] == "measured"]
    assert f"all {len(measured)} entries that can run here meet their" in readme
    assert all(r["meets_target"] == "True" for r in measured)
