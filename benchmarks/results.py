"""``python -m benchmarks results``: every entry trained with its recipe, 3 seeds, one table.

Each registered entry trains with ``recipes.train`` (its own recipe, its default
dataset) once per seed, and its test metric goes into one row: mean ± std,
epochs, training seconds, parameters, the recipe's target and any published
figure. An entry that cannot run here (a dataset with no local copy, uncached
ImageNet weights, no local Hugging Face checkpoint) gets a row that says why;
nothing is trained from random weights in its place.

Writes ``zoo/accuracy.csv`` (package data: ``zoo info`` shows each row) and
``benchmarks/ACCURACY.md``. ``--only a,b`` reruns some entries and ``--merge``
keeps the other rows of the existing table.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import zoo  # first: the zoo's runtime settings apply to this process

# isort: split

from benchmarks.harness import ROOT, machine, versions
from zoo.data.remote import preflight
from zoo.errors import DatasetUnavailableError, WeightsUnavailableError, ZooError
from zoo.results import TABLE, lower_is_better, published, read_rows

MARKDOWN = ROOT / "benchmarks" / "ACCURACY.md"
SEEDS = (0, 1, 2)
FIELDS = (
    "entry", "task", "dataset", "data", "metric", "higher_is_better", "status", "mean", "std",
    "seeds", "values", "target", "meets_target", "epochs_planned", "epochs_run",
    "train_seconds", "params", "published", "published_dataset", "published_source",
    "published_note", "reason", "machine", "date", "tensorflow", "keras",
)  # fmt: skip

Log = Callable[[str], None]


def metric_value(metrics: dict[str, Any], report: dict[str, Any], metric: str) -> float:
    """``metric`` from a run's test metrics, or from its evaluation report (sample quality,
    exact match), where generative and seq2seq entries put theirs."""
    for source in (metrics, report.get("evaluation", {}), report):
        if isinstance(source, dict) and isinstance(source.get(metric), (int, float)):
            return float(source[metric])
    raise KeyError(f"the run reported no {metric!r}; it has {sorted(metrics)}")


def why_not_run(error: ZooError, dataset: str) -> str:
    """One line for the table: why this entry has no number on this machine (everything
    missing: a transfer entry stops at its weights before it would reach its data)."""
    no_data = f"no local copy of {dataset} (it needs a download)"
    if isinstance(error, DatasetUnavailableError):
        return no_data
    reason = str(error).split("\n")[0][:160]
    if isinstance(error, WeightsUnavailableError):
        reason = "no cached pretrained weights (ImageNet or Hugging Face: a download)"
    try:
        preflight(dataset)
    except DatasetUnavailableError:
        return f"{no_data}; {reason}"
    return reason


def train_seeds(name: str, metric: str, seeds: Iterable[int], log: Log) -> list[dict[str, Any]]:
    """One ``recipes.train`` run per seed, each in a throwaway folder; ``metric`` of each."""
    import keras

    import recipes

    runs = []
    for seed in seeds:
        keras.utils.clear_session(free_memory=True)
        with tempfile.TemporaryDirectory(prefix=f"zoo-results-{name}-") as out:
            start = time.perf_counter()
            result = recipes.train(name, seed=seed, out_dir=out, verbose=0)
            runs.append({
                "value": metric_value(result.metrics, result.report, metric),
                "train_seconds": result.report["train_seconds"],
                "epochs_run": result.report["epochs_run"],
                "epochs_planned": result.report["epochs_planned"],
                "params": result.model.count_params(),
            })  # fmt: skip
        log(f"  {name} seed {seed}: {metric} {runs[-1]['value']:.4f} "
            f"({time.perf_counter() - start:.0f} s)")  # fmt: skip
    return runs


def row_for(name: str, seeds: Iterable[int], stamp: dict[str, str], log: Log) -> dict[str, Any]:
    """Entry ``name``'s row: measured over ``seeds``, or the reason it could not run here."""
    import recipes

    recipe = recipes.get(name)
    entry = zoo.get_entry(name)
    metric = recipe.target_metric
    row: dict[str, Any] = {
        "entry": name,
        "task": entry.task,
        "dataset": recipe.dataset,
        "data": zoo.data.dataset_kind(recipe.dataset),
        "metric": metric,
        "higher_is_better": not lower_is_better(metric),
        **stamp,
    }
    try:
        runs = train_seeds(name, metric, seeds, log)
    except ZooError as error:
        reason = why_not_run(error, recipe.dataset)
        log(f"  {name}: not run ({reason})")
        return {**row, "status": "not run", "reason": reason}
    values = [r["value"] for r in runs]
    mean = statistics.fmean(values)
    return {
        **row,
        "status": "measured",
        "data": "real" if row["data"] == "download" else row["data"],  # a local copy was used
        "mean": round(mean, 4),
        "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
        "seeds": len(values),
        "values": " ".join(f"{v:.4f}" for v in values),
        "epochs_planned": runs[0]["epochs_planned"],
        "epochs_run": round(statistics.fmean(r["epochs_run"] for r in runs), 1),
        "train_seconds": round(statistics.fmean(r["train_seconds"] for r in runs), 1),
        "params": runs[0]["params"],
    }


def current_columns(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with what is stated rather than measured taken from the code as it is now:
    the recipe's target (and whether the measured mean meets it) and the published figure,
    so a changed target or source never leaves a stale column beside a number."""
    import recipes

    recipe = recipes.get(row["entry"])
    figure = published(row["entry"])
    measured = row["status"] == "measured"
    return {
        **row,
        "target": "" if recipe.target is None else recipe.target,
        "meets_target": recipe.meets_target(float(row["mean"])) if measured else "",
        "published": figure.value if figure else "",
        "published_dataset": figure.dataset if figure else "",
        "published_source": figure.source if figure else "",
        "published_note": figure.note if figure else "",
    }


def write_table(rows: dict[str, dict[str, Any]], table: Path, markdown: Path) -> None:
    """The CSV (rows in registry order) and ACCURACY.md, each replaced whole: no half tables."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, extrasaction="ignore")
    writer.writeheader()
    rows.update({name: current_columns(row) for name, row in rows.items()})
    for name in zoo.list_models():
        if name in rows:
            writer.writerow({k: rows[name].get(k, "") for k in FIELDS})
    for path, text in ((table, buffer.getvalue()), (markdown, render(rows))):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)


def _number(row: dict[str, Any]) -> str:
    if row["status"] != "measured":
        return f"not run: {row['reason']}"
    std = float(row["std"])
    return f"{float(row['mean']):.4g} ± {std:.2g}"


def _target(row: dict[str, Any]) -> str:
    if row.get("target") in ("", None):
        return ""
    sign = "≥" if str(row["higher_is_better"]) == "True" else "≤"
    verdict = {"True": " ✓", "False": " ✗"}.get(str(row.get("meets_target", "")), "")
    return f"{sign} {float(row['target']):.4g}{verdict}"


def _published(row: dict[str, Any]) -> str:
    if row.get("published") in ("", None):
        return ""
    source = row["published_source"]
    cited = f"[source]({source})" if source.startswith("http") else source
    return (
        f"{float(row['published']):.4g} on {row['published_dataset']} "
        f"({cited}; {row['published_note']})"
    )


def render(rows: dict[str, dict[str, Any]]) -> str:
    """ACCURACY.md: the measured table, then the entries that could not run here."""
    ordered = [rows[n] for n in zoo.list_models() if n in rows]
    measured = [r for r in ordered if r["status"] == "measured"]
    missing = [r for r in ordered if r["status"] != "measured"]
    out = [
        "# Results: every entry with its own recipe",
        "",
        "Generated by `python -m benchmarks results` (do not edit by hand); the same rows are "
        "in `zoo/accuracy.csv`, and `zoo info NAME` shows its entry's row. Each number is the "
        "entry's recipe metric on the test split, mean ± standard deviation over the seeds "
        "listed, with the recipe's own epochs (early stopping may end a run sooner: "
        "*epochs run* is the mean). *Data*: `real` (measured data that ships with a package "
        "or a local copy), `generated` (made by code: no claim about real data).",
        "",
        "| entry | dataset | data | metric | ours | target | epochs run / planned "
        "| train s | params | published | machine, date |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in measured:
        out.append(
            f"| `{r['entry']}` | {r['dataset']} | {r['data']} | {r['metric']} | {_number(r)} "
            f"| {_target(r)} | {r['epochs_run']} / {r['epochs_planned']} "
            f"| {float(r['train_seconds']):.0f} | {int(r['params']):,} | {_published(r)} "
            f"| {r['machine']}, {r['date']} |"
        )
    if missing:
        out += ["", "## Not run here", "", "| entry | dataset | why | published |",
                "|---|---|---|---|"]  # fmt: skip
        out += [
            f"| `{r['entry']}` | {r['dataset']} | {r['reason']} | {_published(r)} |"
            for r in missing
        ]
    versions_seen = sorted({f"TensorFlow {r['tensorflow']}, Keras {r['keras']}" for r in ordered})
    out += ["", f"Library versions: {'; '.join(versions_seen)}.", ""]
    return "\n".join(out)


def stamp() -> dict[str, str]:
    """Where and when these rows were measured."""
    m, v = machine(), versions()
    return {
        "machine": f"{m['cpu']}, {m['cores']} cores",
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
        "tensorflow": v["tensorflow"],
        "keras": v["keras"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks results",
                                description=__doc__.splitlines()[0])  # fmt: skip
    p.add_argument("--only", default="", help="comma list of entries (default: every entry)")
    p.add_argument("--merge", action="store_true", help="keep the other rows of the table")
    p.add_argument("--seeds", type=int, default=len(SEEDS), help="seeds per entry (default 3)")
    p.add_argument("--csv", default=str(TABLE), help=argparse.SUPPRESS)
    p.add_argument("--markdown", default=str(MARKDOWN), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or zoo.list_models()
    if args.seeds < 1:
        p.error("--seeds must be at least 1")
    try:
        for name in names:
            zoo.get_entry(name)  # an unknown name fails here, before any training
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    table, markdown = Path(args.csv), Path(args.markdown)
    rows = read_rows(table) if args.merge else {}

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    where = stamp()
    for name in names:
        log(name)
        rows[name] = row_for(name, range(args.seeds), where, log)
        write_table(rows, table, markdown)  # after every entry: a stopped run keeps what it had
    print(f"wrote {table} and {markdown}")
    return 0
