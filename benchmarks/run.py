"""``python -m benchmarks``: run every section, write RESULTS.md and the README headline.

Sections (``--only`` picks some):

- ``throughput``: training samples/s of the zoo against the tutorial's Keras
  code and its PyTorch code, alternated back to back, median of ``--runs``.
- ``accuracy``: training seconds to a test-accuracy target on real data.
- ``export``: size, single-sample latency and accuracy of every TFLite
  quantization against Keras ``predict`` and the SavedModel.
- ``pipeline``: ``zoo.data`` throughput against what training consumes.

``--quick`` shrinks everything to a smoke run (the test suite uses it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zoo  # first: the zoo's runtime settings apply to this process (export, pipeline)

# isort: split

import numpy as np

from benchmarks.harness import (
    ROOT,
    BenchmarkError,
    Program,
    alternate,
    clean_env,
    fp32_peak,
    fraction_of_peak,
    machine,
    matmul_ceiling,
    median,
    spread,
    torch_available,
    versions,
)
from zoo.backends import installed as installed_backends

#: Networks compared with hand-written Keras and PyTorch code.
CORE = ("mnist_mlp", "cifar10_cnn")
#: Networks with an equivalent PyTorch loop (benchmarks/programs/torch_tutorial.py).
TORCH_BASELINES = (*CORE, "lstm_text", "transformer_text")
#: One entry of each other family, at its default input size.
FAMILIES = (
    "mobilenet_v2_transfer",
    "lstm_text",
    "transformer_text",
    "conv_autoencoder",
    "vae",
    "dcgan",
    "diffusion",
)
#: Samples per timed epoch, sized for a few seconds each on 2 CPU cores.
SAMPLES = {
    "mnist_mlp": 32_000,
    "cifar10_cnn": 1_920,
    "mobilenet_v2_transfer": 96,
    "lstm_text": 512,
    "transformer_text": 1_024,
    "conv_autoencoder": 2_048,
    "vae": 8_192,
    "dcgan": 1_024,
    "diffusion": 512,
}
OVERRIDES: dict[str, dict[str, Any]] = {"mobilenet_v2_transfer": {"weights": None}}
#: Time-to-accuracy tasks: (model, dataset, test-accuracy target, compare with Keras).
ACCURACY_TASKS = (
    ("mnist_mlp", "mnist_5k", 0.93, True),
    ("mnist_cnn", "fashion_mnist", 0.91, False),
)
#: Export tasks: (model, input shape trained and exported at, builder overrides, epochs).
#: Without ImageNet weights (not on this disk) a backbone's accuracy means nothing.
EXPORT_TASKS = (
    ("mnist_mlp", (784,), {}, 5),
    ("cifar10_cnn", (32, 32, 3), {}, 10),  # fewer: batch norm's averages lag, val ~0.1-0.4
    ("mobilenet_v2_transfer", (96, 96, 3), {"weights": None}, 3),
)
QUANTS = (None, "dynamic", "float16", "int8")
TARGETS = {"keras": 1.2, "torch": 1.2}
#: The text networks' target against their PyTorch loops: at least as fast.
TORCH_PARITY = 1.0
#: The zoo's own program is also run under these Keras backends (when installed).
OTHER_BACKENDS = ("jax", "torch")


# --------------------------------------------------------------------------- throughput


def write_workloads(folder: Path, models: tuple[str, ...], scale: float) -> None:
    """One ``.npz`` (x, y) and ``.json`` (batch size, overrides) per model.

    ``mnist_mlp`` trains on the real mnist_5k digits (repeated to fill the
    epoch); the rest on random data of their default input shape, which
    costs the same to train on: CIFAR-10 and ImageNet are not on this disk.
    """
    rng = np.random.default_rng(0)
    for name in models:
        entry = zoo.get_entry(name)
        n = max(64, int(SAMPLES[name] * scale))
        overrides = OVERRIDES.get(name, {})
        model = zoo.build(name, compile=False, **overrides)
        if name == "mnist_mlp":
            raw = zoo.data.load_raw("mnist_5k")
            x0, y0 = (np.stack(a) for a in zip(*raw.train.as_numpy_iterator(), strict=True))
            reps = -(-n // len(x0))
            x = (np.tile(x0.reshape(len(x0), -1), (reps, 1))[:n] / 255.0).astype("float32")
            y = np.tile(y0, reps)[:n].astype("int64")
        else:
            generated = entry.task in ("gan", "diffusion")
            shape = model.output_shape[1:] if generated else model.inputs[0].shape[1:]
            if model.inputs[0].dtype.startswith("int") and not generated:
                vocab = entry.defaults().get("vocab_size", 1000)
                x = rng.integers(1, vocab, size=(n, *shape)).astype("int32")
            else:
                x = rng.random((n, *shape), dtype=np.float32)
                if entry.raw_pixels:
                    x *= 255.0
            classes = model.output_shape[-1] if entry.task == "classification" else 2
            y = rng.integers(0, classes, size=n).astype("int64")
        np.savez(folder / f"{name}.npz", x=x, y=y)
        spec = {"batch_size": entry.batch_size, "overrides": overrides, "task": entry.task}
        (folder / f"{name}.json").write_text(json.dumps(spec))


def programs(models: tuple[str, ...]) -> list[Program]:
    core = tuple(m for m in models if m in CORE)
    plain = {"ZOO_RUNTIME_DEFAULTS": "0"}
    out = [
        Program("keras", "keras_tutorial", models, env=plain),
        Program("zoo", "zoo_default", models),
    ]
    if core:
        out += [
            Program("keras + oneDNN", "keras_tutorial", core,
                    env={**plain, "TF_ENABLE_ONEDNN_OPTS": "1"}),
            Program("zoo, NumPy fit", "zoo_default", core, args=("--feed", "numpy")),
        ]  # fmt: skip
    if torch_available() and (baselines := tuple(m for m in models if m in TORCH_BASELINES)):
        out.append(Program("torch", "torch_tutorial", baselines))
    for backend in OTHER_BACKENDS:  # the same zoo program, with KERAS_BACKEND set
        if backend in installed_backends():
            out.append(Program(f"zoo on {backend}", "zoo_default", models,
                               env={"KERAS_BACKEND": backend}))  # fmt: skip
    return out


def throughput(models: tuple[str, ...], runs: int, scale: float, log) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as tmp:
        write_workloads(Path(tmp), models, scale)
        progs = programs(models)
        samples = alternate(progs, Path(tmp), runs=runs, epochs=1, log=log)
    rows = []
    for model in models:
        row: dict[str, Any] = {"model": model, "batch_size": zoo.get_entry(model).batch_size}
        for p in progs:
            if model in samples[p.label]:
                runs_ = samples[p.label][model]
                values = [r["samples_per_s"] for r in runs_]
                cpu = [r["samples_per_cpu_s"] for r in runs_]
                row[p.label] = {"median": median(values), "runs": values,
                                "cpu_median": median(cpu)}  # fmt: skip
        for base in ("keras", "torch"):
            if base in row:
                row[f"zoo / {base}"] = row["zoo"]["median"] / row[base]["median"]
                row[f"zoo / {base} (CPU s)"] = row["zoo"]["cpu_median"] / row[base]["cpu_median"]
        for backend in OTHER_BACKENDS:
            if f"zoo on {backend}" in row:
                row[f"{backend} / tensorflow"] = (
                    row[f"zoo on {backend}"]["median"] / row["zoo"]["median"]
                )
        row["flops"] = forward_flops(model)
        rows.append(row)
    return {"runs": runs, "programs": [p.label for p in progs], "rows": rows,
            "torch": torch_available(), "peak": fp32_peak(),
            "ceiling": matmul_ceiling()}  # fmt: skip


def merge_throughput(earlier: dict[str, Any], rerun: dict[str, Any], date: str) -> dict[str, Any]:
    """The earlier throughput section with the rerun models' rows replaced; the section
    records which rows came later, and when, so the report can say so."""
    rows = {r["model"]: r for r in earlier["rows"]}
    rows.update({r["model"]: r for r in rerun["rows"]})
    programs = earlier["programs"] + [p for p in rerun["programs"] if p not in earlier["programs"]]
    note = {"date": date, "models": [r["model"] for r in rerun["rows"]], "runs": rerun["runs"]}
    return {**earlier, "rows": list(rows.values()), "programs": programs,
            "reruns": [*earlier.get("reruns", []), note]}  # fmt: skip


def forward_flops(name: str) -> int:
    """Forward FLOPs per sample of the network the throughput programs train."""
    from zoo.sizes import count_flops

    return count_flops(zoo.build(name, compile=False, **OVERRIDES.get(name, {})))[0]


# --------------------------------------------------------------------------- accuracy


def fashion_available() -> bool:
    from zoo.data.remote import keras_home

    folder = keras_home() / "datasets" / "fashion-mnist"
    return all((folder / f).exists() for f in ("train-images-idx3-ubyte.gz",
                                                 "t10k-labels-idx1-ubyte.gz"))  # fmt: skip


def time_to_accuracy(quick: bool, runs: int, log) -> list[dict[str, Any]]:
    results = []
    for model, dataset, target, compare in ACCURACY_TASKS:
        if dataset == "fashion_mnist" and not fashion_available():
            results.append({"model": model, "dataset": dataset, "target": target,
                            "skipped": "Fashion-MNIST is not installed: run "
                            "`bash benchmarks/setup.sh` first"})  # fmt: skip
            continue
        if quick and dataset != "mnist_5k":
            continue
        variants = ("zoo", "keras") if compare else ("zoo",)
        # each round trains to the target (costly); one seed's epoch count is noise of +-1
        rounds = min(runs, 3)
        found: dict[str, list[dict]] = {v: [] for v in variants}
        for r in range(rounds):
            for variant in variants if r % 2 == 0 else variants[::-1]:
                cmd = [sys.executable, "-m", "benchmarks.programs.time_to_accuracy",
                       "--model", model, "--dataset", dataset, "--target", str(target),
                       "--variant", variant, "--seed", str(r),
                       "--max-epochs", "2" if quick else "20"]  # fmt: skip
                env = clean_env({"ZOO_RUNTIME_DEFAULTS": "0"} if variant == "keras" else {})
                proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True,
                                      timeout=3600)  # fmt: skip
                if proc.returncode != 0:
                    raise BenchmarkError(f"time to accuracy failed:\n{proc.stderr[-2000:]}")
                found[variant].append(json.loads(proc.stdout.strip().splitlines()[-1]))
                log(f"  {model} on {dataset} ({variant}) round {r + 1}: done")
        for variant, rows in found.items():
            reached = [r for r in rows if r["reached"]]
            results.append({
                "model": model, "dataset": dataset, "target": target, "variant": variant,
                "runs": len(rows), "reached": len(reached),
                "seconds": median([r["seconds"] for r in reached]) if reached else None,
                "epochs": median([r["epochs"] for r in reached]) if reached else None,
                "accuracy": median([r["accuracy"] for r in rows]),
            })  # fmt: skip
    return results


# --------------------------------------------------------------------------- export


def _latency_ms(call: Callable[[], Any], repeats: int) -> float:
    for _ in range(3):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def tflite_latencies(files: dict[str, Path], one: np.ndarray, rounds: int,
                     calls: int = 100) -> list[dict[str, Any]]:  # fmt: skip
    """Per TFLite file, at 1 thread and at all cores: ``invoke()`` alone, and a whole call
    (copy the input in, invoke, copy the output out), in ms. Files and thread counts are
    interleaved round by round, the order reversed every other round, so the host's
    changing load falls on all of them alike; medians over the rounds."""
    from ai_edge_litert.interpreter import Interpreter

    runners = {}
    for label, path in files.items():
        for threads in sorted({1, os.cpu_count() or 1}):
            interp = Interpreter(model_path=str(path), num_threads=threads)
            interp.allocate_tensors()
            runners[(label, threads)] = _tflite_calls(interp, one)
    times: dict[tuple, dict[str, list[float]]] = {k: {"invoke": [], "call": []} for k in runners}
    for r in range(rounds):
        for key in list(runners) if r % 2 == 0 else list(runners)[::-1]:
            for part, fn in runners[key].items():
                times[key][part].append(_mean_ms(fn, calls))
    return [{"format": label, "threads": threads, "invoke_ms": median(t["invoke"]),
             "call_ms": median(t["call"]), "invoke_runs": t["invoke"]}
            for (label, threads), t in times.items()]  # fmt: skip


def _tflite_calls(interp: Any, one: np.ndarray) -> dict[str, Callable[[], Any]]:
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    x = one.astype(inp["dtype"])
    interp.set_tensor(inp["index"], x)

    def call() -> Any:
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        return interp.get_tensor(out["index"])

    return {"invoke": interp.invoke, "call": call}


def _mean_ms(call: Callable[[], Any], calls: int) -> float:
    for _ in range(3):
        call()
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return 1000 * (time.perf_counter() - start) / calls


def export_section(quick: bool, log) -> list[dict[str, Any]]:
    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    rows = []
    tasks = EXPORT_TASKS[:1] if quick else EXPORT_TASKS
    repeats = 20 if quick else 200
    for name, shape, overrides, epochs in tasks:
        keras.utils.set_random_seed(0)
        entry = zoo.get_entry(name)
        splits = zoo.data.load("mnist_5k", batch_size=entry.batch_size, input_shape=shape,
                               rescale=not entry.raw_pixels)  # fmt: skip
        model = zoo.build(name, num_classes=10, input_shape=shape, **overrides)
        model.fit(splits.train, epochs=1 if quick else epochs, verbose=0)
        x_test = np.concatenate([x for x, _ in splits.test.as_numpy_iterator()])
        y_test = np.concatenate([y for _, y in splits.test.as_numpy_iterator()])
        x_rep = np.concatenate([x for x, _ in splits.train.take(8).as_numpy_iterator()])
        with tempfile.TemporaryDirectory(prefix="zoo-bench-export-") as tmp:
            report = zoo.export(model, Path(tmp) / name, formats=("saved_model", "tflite"),
                                quantize=list(QUANTS), representative_data=x_rep,
                                validation_data=(x_test, y_test), samples=len(x_test),
                                name=name)  # fmt: skip
            arts = report.manifest["artifacts"]
            one = x_test[:1]
            keras_acc = float(np.mean(model.predict(x_test, verbose=0).argmax(-1) == y_test))
            row = {"model": name, "input_shape": list(shape), "test_samples": len(x_test),
                   "trained_epochs": 1 if quick else epochs, "formats": []}  # fmt: skip
            row["formats"].append({
                "format": "Keras predict", "size_bytes": None, "accuracy": keras_acc,
                "latency_ms": _latency_ms(lambda m=model, o=one: m.predict(o, verbose=0), repeats),
            })  # fmt: skip
            row["formats"].append({
                "format": "Keras direct call", "size_bytes": None, "accuracy": keras_acc,
                "latency_ms": _latency_ms(lambda m=model, o=one: m(o, training=False), repeats),
            })  # fmt: skip
            served = tf.saved_model.load(str(report.files["saved_model"]))
            serve = served.signatures["serving_default"]
            key = next(iter(serve.structured_input_signature[1]))
            sm = arts["saved_model"]
            row["formats"].append({
                "format": "SavedModel", "size_bytes": sm["size_bytes"],
                "accuracy": sm["parity"].get("accuracy", keras_acc),
                "latency_ms": _latency_ms(
                    lambda f=serve, k=key, o=one: f(**{k: tf.constant(o)}), repeats),
            })  # fmt: skip
            for q in QUANTS:
                art_key = "tflite" if q is None else f"tflite_{q}"
                interp = Interpreter(model_path=str(report.files[art_key]))
                interp.allocate_tensors()
                inp = interp.get_input_details()[0]
                out = interp.get_output_details()[0]

                def invoke(interp=interp, inp=inp, out=out, one=one):
                    interp.set_tensor(inp["index"], one.astype(inp["dtype"]))
                    interp.invoke()
                    return interp.get_tensor(out["index"])

                parity = arts[art_key]["parity"]
                row["formats"].append({
                    "format": f"TFLite {q or 'float32'}",
                    "size_bytes": arts[art_key]["size_bytes"],
                    "accuracy": parity.get("accuracy"),
                    "top1_agreement": parity.get("top1_agreement"),
                    "latency_ms": _latency_ms(invoke, repeats),
                })  # fmt: skip
            files = {q or "float32": report.files["tflite" if q is None else f"tflite_{q}"]
                     for q in QUANTS}  # fmt: skip
            row["tflite"] = tflite_latencies(files, one, rounds=3 if quick else 7)
        rows.append(row)
        log(f"  export {name}: done")
    return rows


# --------------------------------------------------------------------------- pipeline


def pipeline_section(quick: bool, consumption: dict[str, float], log) -> list[dict[str, Any]]:
    """Samples/s ``zoo.data`` delivers (after the first, caching epoch) vs training's need."""
    import tensorflow as tf

    from recipes.augment import augmentation

    rng = np.random.default_rng(0)
    n = 2_048 if quick else 20_000
    cifar = zoo.data.DatasetInfo(name="cifar-shaped", task="classification", modality="image",
                                 element_shape=(32, 32, 3), num_classes=10,
                                 pixel_range=255.0)  # fmt: skip
    x = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, size=n)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    cases = [
        ("mnist_mlp", "mnist_5k, flattened", lambda: zoo.data.load(
            "mnist_5k", batch_size=32, input_shape=(784,)).train),
        ("cifar10_cnn", "CIFAR-shaped uint8 + 'cifar' augmentation", lambda: zoo.data.pipeline(
            zoo.data.RawSplits(ds, ds, ds, cifar), batch_size=64,
            augment=augmentation("cifar", (32, 32, 3), value_range=(0.0, 1.0), seed=0)).train),
    ]  # fmt: skip
    rows = []
    for model, what, make in cases:
        train = make()
        for _ in train:  # first epoch fills the cache
            pass
        count, start = 0, time.perf_counter()
        for _ in range(2 if quick else 5):
            for xb, _ in train:
                count += int(xb.shape[0])
        rate = count / (time.perf_counter() - start)
        need = consumption.get(model)
        rows.append({"model": model, "data": what, "pipeline_samples_per_s": rate,
                     "training_samples_per_s": need,
                     "headroom": rate / need if need else None})  # fmt: skip
        log(f"  pipeline {model}: done")
    return rows


# --------------------------------------------------------------------------- report


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table (tabulate's pipe format): numbers right-aligned, text left."""
    from tabulate import tabulate

    return tabulate(rows, headers, tablefmt="pipe")


def _fmt_ratio(r: float | None, target: float | None = None) -> str:
    if r is None:
        return "–"
    mark = "" if target is None else (" ✅" if r >= target else " ❌")
    return f"{r:.2f}x{mark}"


def _scored(model: str) -> bool:
    return all(t[2].get("weights", "imagenet") is not None for t in EXPORT_TASKS if t[0] == model)


def _mb(n: int | None) -> str:
    return "–" if n is None else f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def render(results: dict[str, Any]) -> str:
    m, v = results["machine"], results["versions"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `python -m benchmarks` on {results['date']}. Machine: {m['cpu']}"
        + (f" (family {m['cpu_family']}; {m['cpu_flags']})" if m.get("cpu_flags") else "")
        + f", {m['cores']} cores, {m['memory']}; Python {m['python']}; "
        + ", ".join(f"{k} {val}" for k, val in v.items())
        + ".",
        "",
        "Numbers are from this one machine; rerun `make bench` to get yours. Speed is only "
        "ever compared between programs run back to back on the same machine.",
        "",
    ]
    if "throughput" in results:
        t = results["throughput"]
        labels = t["programs"]
        lines += [
            "## Training throughput (samples/s)",
            "",
            f"Median of {t['runs']} runs; every program runs in a fresh process, the programs "
            "alternated back to back with the order rotated each round; one warm-up epoch "
            "before the timed one (the Keras programs run both in one `fit` call and time the "
            "second with a callback). Same network, same batch size (the entry's default), same "
            "data. *keras*: the tutorial's hand-written Keras code (`compile` + `fit` on NumPy "
            "arrays, TensorFlow's own runtime settings); for entries past the first two it is "
            "the zoo's network compiled and fed that plain way. *zoo*: `zoo.build(name)` "
            "(its compile defaults: 32 steps per execution) fed by `zoo.data.pipeline`, with "
            "the zoo's runtime settings (oneDNN on, fused batch norm and Adam, tf.data without "
            "autotuning). *keras + oneDNN* and *zoo, NumPy fit* "
            "split the gain into its parts. *torch*: the tutorial's PyTorch loop, CPU torch. "
            "*zoo on jax*, *zoo on torch*: the zoo's program with `KERAS_BACKEND` set (one "
            "step per call on torch). "
            "The last two columns divide samples per CPU second of each process instead: CPU "
            "time leaves out waits, such as the epochs that Keras' own autotuned pipeline "
            "(NumPy input) runs on one thread (benchmarks/README.md), and a host's changing "
            "share of the CPU; PyTorch's threads may spin while they wait, which adds to it.",
            "",
        ]
        for note in t.get("reruns", []):
            lines += [f"Rows rerun on {note['date']} ({note['runs']} runs each), the rest "
                      f"from the run above: {', '.join(note['models'])}.", ""]  # fmt: skip
        rows = []
        for row in t["rows"]:
            cells = []
            for label in labels:
                cell = row.get(label)
                cells.append(f"{cell['median']:,.0f} ({spread(cell['runs'])})" if cell else "–")
            torch_target = TARGETS["torch"] if row["model"] in CORE else TORCH_PARITY
            rows.append([row["model"], row["batch_size"], *cells,
                         _fmt_ratio(row.get("zoo / keras"), TARGETS["keras"]),
                         _fmt_ratio(row.get("zoo / torch"), torch_target),
                         _fmt_ratio(row.get("zoo / keras (CPU s)")),
                         _fmt_ratio(row.get("zoo / torch (CPU s)"))])  # fmt: skip
        headers = ["model", "batch", *labels, "zoo / keras", "zoo / torch",
                   "per CPU s: zoo / keras", "zoo / torch"]  # fmt: skip
        lines.append(markdown_table(headers, rows))
        if t.get("peak"):
            lines += ["", *render_peak(t)]
        if not t["torch"]:
            lines += ["", "PyTorch was not installed: run `bash benchmarks/setup.sh`."]
        lines += [""]
    if "accuracy" in results:
        lines += [
            "## Time to accuracy (real data)",
            "",
            "Training seconds (test scoring after each epoch excluded) until the test "
            "accuracy reaches the target; median over the runs that reached it, seeds 0, 1, ….",
            "",
        ]
        rows = []
        for r in results["accuracy"]:
            if "skipped" in r:
                rows.append([r["model"], r["dataset"], r["target"], "–",
                             f"skipped: {r['skipped']}", "", "", ""])  # fmt: skip
                continue
            secs = f"{r['seconds']:.1f}" if r["seconds"] is not None else "–"
            eps = f"{r['epochs']:.0f}" if r["epochs"] is not None else "–"
            reached = f"{r['reached']}/{r['runs']}"
            rows.append([r["model"], r["dataset"], r["target"], r["variant"], reached, eps,
                         secs, f"{r['accuracy']:.4f}"])  # fmt: skip
        lines.append(markdown_table(["model", "dataset", "target", "program", "reached",
                                     "epochs", "seconds", "accuracy"], rows))  # fmt: skip
        lines += [""]
    if "export" in results:
        lines += [
            "## Export: size, single-sample latency, accuracy",
            "",
            "Each model is trained briefly on mnist_5k at the input shape shown (CIFAR-10 and "
            "ImageNet weights are not on this disk, so `mobilenet_v2_transfer` starts from "
            "random weights at 96x96: its features are flat, every digit gets the same class, "
            "and its accuracy is not shown; its size and latency stand), exported by "
            "`zoo.export` (int8 calibrated on 8 training batches), and every artifact is "
            "scored on the same 500 held-out digits. "
            "Latency: median of single-sample calls in this process, TFLite with the "
            "interpreter's default threads. *Keras direct call* is `model(x)`, which skips "
            "`predict`'s per-call setup; ratios are against it (`predict` is only a row). "
            "Below each table, the TFLite files again, interleaved round by round at 1 thread "
            "and at all cores: `invoke()` alone, and a whole call (input in, invoke, output "
            f"out). Target: full int8 at least {INT8_TARGET}x faster than float32 at batch 1 "
            "for the CNNs.",
            "",
        ]
        for row in results["export"]:
            lines += [
                f"### {row['model']} (input {tuple(row['input_shape'])}, "
                f"{row['test_samples']} test samples)",
                "",
            ]
            call = {f["format"]: f for f in row["formats"]}["Keras direct call"]["latency_ms"]
            scored = _scored(row["model"])
            rows = []
            for f in row["formats"]:
                acc = f"{f['accuracy']:.4f}" if scored and f.get("accuracy") is not None else "–"
                agree = f.get("top1_agreement")
                agree = f"{agree:.4f}" if scored and agree is not None else "–"
                rows.append([f["format"], _mb(f["size_bytes"]), f"{f['latency_ms']:.3f}",
                             f"{call / f['latency_ms']:.2f}x", acc, agree])  # fmt: skip
            lines.append(markdown_table(["format", "size", "latency (ms)", "vs Keras call",
                                         "accuracy", "top-1 agreement"], rows))  # fmt: skip
            lines += [""]
            if row.get("tflite"):
                lines += render_tflite_threads(row["model"], row["tflite"])
    if "pipeline" in results:
        lines += [
            "## Input pipeline",
            "",
            "Samples/s `zoo.data` delivers once its cache is warm, against the median rate "
            "the zoo's training consumed above. Headroom above 1 means the pipeline is not "
            "the bottleneck.",
            "",
        ]
        rows = []
        for r in results["pipeline"]:
            need = f"{r['training_samples_per_s']:,.0f}" if r["training_samples_per_s"] else "–"
            rows.append([r["model"], r["data"], f"{r['pipeline_samples_per_s']:,.0f}", need,
                         _fmt_ratio(r["headroom"], 1.0)])  # fmt: skip
        lines.append(markdown_table(["model", "data", "pipeline samples/s",
                                     "training samples/s", "headroom"], rows))  # fmt: skip
        lines += [""]
    if "serving" in results:
        lines += render_serving(results["serving"])
    if "language" in results:
        lines += render_language(results["language"])
    if "insight" in results:
        lines += render_insight(results["insight"])
    return "\n".join(lines)


#: Full-int8 TFLite against float32 TFLite at batch 1 (the performance issue's target).
INT8_TARGET = 1.5
INT8_MODELS = ("cifar10_cnn", "mobilenet_v2_transfer")


def render_tflite_threads(model: str, timings: list[dict[str, Any]]) -> list[str]:
    """The interleaved TFLite latencies of one model, each against float32 at its threads."""
    base = {t["threads"]: t for t in timings if t["format"] == "float32"}
    rows = []
    for t in timings:
        ratio = base[t["threads"]]["invoke_ms"] / t["invoke_ms"]
        target = INT8_TARGET if t["format"] == "int8" and model in INT8_MODELS else None
        rows.append([t["format"], t["threads"], f"{t['invoke_ms']:.3f}", f"{t['call_ms']:.3f}",
                     _fmt_ratio(ratio, target)])  # fmt: skip
    return [markdown_table(["TFLite", "threads", "invoke() ms", "whole call ms",
                            "vs float32 (invoke)"], rows), ""]  # fmt: skip


def int8_speedup(row: dict[str, Any], threads: int = 1) -> float | None:
    """Full int8 against float32 TFLite, ``invoke()`` alone at ``threads``."""
    found = {t["format"]: t["invoke_ms"] for t in row.get("tflite", []) if t["threads"] == threads}
    return found["float32"] / found["int8"] if {"float32", "int8"} <= set(found) else None


def render_insight(section: dict[str, Any]) -> list[str]:
    lines = [
        "## What `--monitor` costs",
        "",
        "Wall-clock seconds of `recipes.train` (the whole run: data, fit, evaluation, "
        "artifacts) with and without `monitor=True`, alternated in one process, median of "
        "the runs; the monitor computes per-layer gradient norms and activation health on "
        "one batch after each epoch. Target: at most 10% of training time. " + _measured(section),
        "",
    ]
    rows = [[r["model"], r["epochs"], f"{r['plain_s']:.1f}", f"{r['monitor_s']:.1f}",
             f"{100 * r['overhead']:+.1f}%" + (" ✅" if r["overhead"] <= 0.10 else " ❌")]
            for r in section["rows"]]  # fmt: skip
    lines.append(markdown_table(["model", "epochs", "plain s", "monitored s", "overhead"], rows))
    return lines + [""]


#: Fraction-of-peak goals (issue: cifar10_cnn at half the fp32 peak or more).
PEAK_GOALS = {"cifar10_cnn": 0.5}


def render_peak(t: dict[str, Any]) -> list[str]:
    """Each row's training FLOP rate as a share of the machine's fp32 peak."""
    peak, ceiling = t["peak"], t.get("ceiling")
    programs = [p for p in ("zoo", "keras", "torch") if p in t["programs"]]
    rows = []
    for row in t["rows"]:
        cells = []
        for label in programs:
            cell = row.get(label)
            share = cell and fraction_of_peak(row["flops"], cell["median"], peak["gflops"])
            cells.append(f"{share:.1%}" if share else "–")
        goal = PEAK_GOALS.get(row["model"])
        if goal is not None:
            share = fraction_of_peak(row["flops"], row["zoo"]["median"], peak["gflops"])
            cells[0] += " ✅" if share >= goal else f" ❌ (goal {goal:.0%})"
        if ceiling:
            share = fraction_of_peak(row["flops"], row["zoo"]["median"], ceiling["gflops"])
            cells.append(f"{share:.1%}")
        rows.append([row["model"], f"{row['flops'] / 1e6:,.2f}", *cells])
    extra = [f"zoo, of {ceiling['gflops']:,.0f} GFLOP/s"] if ceiling else []
    measured = (
        f" The last column divides by what the CPU delivered instead ({ceiling['rule']}, "
        f"{ceiling['gflops'] / peak['gflops']:.0%} of the computed peak: the nominal clock "
        "leaves out the boost clock, so the computed peak is a floor and shares above 100% "
        "are possible)."
        if ceiling
        else ""
    )
    return [
        "### Fraction of the fp32 peak",
        "",
        "Training FLOP rate over the CPU's fp32 peak: 3 x the forward FLOPs per sample "
        "(`zoo.sizes.count_flops`, the cards' `flops`; a training step is the forward pass "
        "and two backward products of about the same size) x samples/s (the medians above). "
        f"Peak: {peak['rule']} (`benchmarks.harness.fp32_peak` explains each factor)." + measured,
        "",
        markdown_table(["model", "forward MFLOP/sample", *programs, *extra], rows),
        "",
        "Transfer entries train their head over a frozen backbone, so 3x the forward FLOPs "
        "overstates their work and their share reads high (above 100% here). The clock is "
        "the kernel's `cpu MHz`; a host that runs faster than it reads high too.",
    ]


def render_language(section: dict[str, Any]) -> list[str]:
    lines = [
        "## Language models",
        "",
        f"Held-out perplexity on `python_docs` (characters) after {section['seconds']:.0f} s "
        "of training each, one after the other in one process, same data and seed; each "
        "model with its card's defaults and its recipe's batch size and learning rate, "
        "scored at its best validation epoch. Target: `transformer_lm` below `char_lstm`. "
        + _measured(section),
        "",
    ]
    rows = [[r["model"], f"{r['parameters']:,}", f"{r['seconds']:.0f}", f"{r['perplexity']:.2f}"]
            for r in section["rows"]]  # fmt: skip
    lines.append(markdown_table(["model", "parameters", "training s", "test perplexity"], rows))
    best = {r["model"]: r["perplexity"] for r in section["rows"]}
    if {"char_lstm", "transformer_lm"} <= set(best):
        met = best["transformer_lm"] < best["char_lstm"]
        lines += ["", f"transformer_lm {best['transformer_lm']:.2f} against char_lstm "
                  f"{best['char_lstm']:.2f}: {'met ✅' if met else 'missed ❌'}."]  # fmt: skip
    lines += ["", "Generating 200 characters after an 11-character prompt with `transformer_lm` "
              "(median of 3). Target: the cache at least 3x faster. Both ways decode in one "
              "compiled loop per window (XLA on TensorFlow), sampling included, and give the "
              "same text: with the cache each token costs one position, without it each token "
              "re-reads the whole window:", ""]  # fmt: skip
    rows = [[g["layers"], g["width"], f"{g['parameters']:,}", g["window"],
             f"{g['cached_s']:.3f}", f"{g['uncached_s']:.3f}", _fmt_ratio(g["speedup"], 3.0)]
            for g in section["generation"]]  # fmt: skip
    lines.append(markdown_table(["layers", "width", "parameters", "context", "cached s",
                                 "uncached s", "speedup"], rows))  # fmt: skip
    return lines + [""]


def _measured(section: dict[str, Any]) -> str:
    m = section["machine"]
    return f"Measured {section['date']} on {m['cpu']}, {m['cores']} cores."


def render_serving(section: dict[str, Any]) -> list[str]:
    from benchmarks.serving import speedups

    lines = [
        "## Serving",
        "",
        f"Requests/s and latency for {section['seconds']:.0f} s per cell: `zoo serve` "
        "(REST and gRPC, dynamic batching) against the tutorial's FastAPI endpoint calling "
        "`model.predict` per request. One instance per request, every client on its own "
        "keep-alive connection; clients and server share the machine's cores. Target at 32 "
        "clients: at least 5x the baseline's throughput, with a p99 below the baseline's.",
        "",
        _measured(section),
        "",
    ]
    rows = [[r["model"], r["clients"], r["system"], f"{r['requests_per_s']:,.0f}",
             f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", r["failures"]]
            for r in section["rows"]]  # fmt: skip
    lines.append(markdown_table(["model", "clients", "server", "requests/s", "p50 ms",
                                 "p99 ms", "failed"], rows))  # fmt: skip
    lines += ["", "Against the baseline:", ""]
    rows = []
    for r in speedups(section):
        target = 5.0 if r["clients"] == 32 else None
        rows.append([r["model"], r["clients"], _fmt_ratio(r["zoo REST"], target),
                     "yes" if r["zoo REST p99 below"] else "no",
                     _fmt_ratio(r["zoo gRPC"], target),
                     "yes" if r["zoo gRPC p99 below"] else "no"])  # fmt: skip
    lines.append(markdown_table(["model", "clients", "REST throughput", "REST p99 lower",
                                 "gRPC throughput", "gRPC p99 lower"], rows))  # fmt: skip
    return lines + [""]


def headline(results: dict[str, Any]) -> str:
    """The README's summary lines: the targets, reached or not, from these results."""
    out = []
    t = results.get("throughput", {})
    for row in t.get("rows", []):
        parts = [f"{_fmt_ratio(row.get('zoo / keras'))} the tutorial's Keras code"]
        if "zoo / torch" in row:
            parts.append(f"{_fmt_ratio(row['zoo / torch'])} its PyTorch code")
        if t.get("peak") and row.get("flops"):
            share = fraction_of_peak(row["flops"], row["zoo"]["median"], t["peak"]["gflops"])
            measured = ""
            if t.get("ceiling"):
                rate = fraction_of_peak(row["flops"], row["zoo"]["median"], t["ceiling"]["gflops"])
                measured = f" and {rate:.0%} of its measured fp32 matmul rate"
            parts.append(f"{share:.0%} of the CPU's nominal fp32 peak{measured}")
        on = [f"{row[f'{b} / tensorflow']:.2f}x on {b}" for b in OTHER_BACKENDS
              if f"{b} / tensorflow" in row]  # fmt: skip
        tail = f" (against TensorFlow: {', '.join(on)})" if on else ""
        out.append(f"- `{row['model']}` trains at " + ", ".join(parts) + tail + ".")
    for row in results.get("export", []):
        fm = {f["format"]: f for f in row["formats"]}
        call, int8, f32 = fm["Keras direct call"], fm["TFLite int8"], fm["TFLite float32"]
        delta = 100 * (int8["accuracy"] - f32["accuracy"])
        accuracy = (
            f", test accuracy {int8['accuracy']:.3f} vs {f32['accuracy']:.3f} float32 "
            f"({delta:+.1f} points)"
            if _scored(row["model"])
            else " (random weights: accuracy not meaningful)"
        )
        speed = int8_speedup(row)
        against = (
            f"{speed:.1f}x float32 TFLite's speed at 1 thread"
            if speed
            else f"{f32['latency_ms'] / int8['latency_ms']:.1f}x float32 TFLite's speed"
        )
        out.append(
            f"- `{row['model']}` int8 TFLite: {against}, "
            f"{call['latency_ms'] / int8['latency_ms']:.0f}x a Keras `model(x)` call "
            f"({int8['latency_ms']:.3f} ms against {call['latency_ms']:.2f} ms), "
            f"{_mb(int8['size_bytes'])} vs {_mb(f32['size_bytes'])}{accuracy}."
        )
    return "\n".join(out)


def host_key(m: dict[str, str]) -> str:
    """One machine kind: the hosts these run on change between Intel and AMD."""
    return f"{m['cpu']}, {m['cores']} cores"


def load_hosts(saved: Path) -> dict[str, dict[str, Any]]:
    """Each host's last results from RESULTS.json (an older file holds one host, flat)."""
    if not saved.exists():
        return {}
    data = json.loads(saved.read_text())
    if "hosts" in data:
        return data["hosts"]
    return {host_key(data["machine"]): data} if "machine" in data else {}


def render_hosts(hosts: dict[str, dict[str, Any]], here: str) -> str:
    """RESULTS.md: one dated section per host seen, this run's host first; a run on one
    host never overwrites another's numbers."""
    others = sorted((k for k in hosts if k != here), key=lambda k: hosts[k]["date"], reverse=True)
    lines = [
        "# Benchmarks",
        "",
        "One section per host seen, newest run first: the machines these run on change "
        "between Intel and AMD, and a number is only compared with numbers from its own "
        "section. Hosts: " + "; ".join(f"{k} ({hosts[k]['date']})" for k in [here, *others])
        + ".",
        "",
    ]  # fmt: skip
    for key in (here, *others):
        body = render(hosts[key]).split("\n", 1)[1]  # its own "# Benchmarks" title goes
        lines += [f"## {key}: {hosts[key]['date']}"]
        lines += ["#" + line if line.startswith("#") else line for line in body.splitlines()]
        lines.append("")
    return "\n".join(lines)


def update_readme(text: str, readme: Path = ROOT / "README.md") -> None:
    start, end = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
    body = readme.read_text()
    if start not in body or end not in body:
        raise BenchmarkError(f"{readme} has no {start} ... {end} block to fill.")
    head, rest = body.split(start, 1)
    tail = rest.split(end, 1)[1]
    readme.write_text(f"{head}{start}\n{text}\n{end}{tail}")


SECTIONS = ("throughput", "accuracy", "export", "pipeline", "serving", "language", "insight")


Runner = tuple[str, Callable[[], Any]]  # a section's log label and the call measuring it


def _section_runners(args: Any, models: tuple[str, ...], scale: float, results: dict,
                     log: Callable[[str], None]) -> dict[str, Runner]:  # fmt: skip
    """Each section's log label and the call that measures it."""

    def consumption() -> dict[str, float]:  # what training consumed, for the pipeline
        rows = results.get("throughput", {}).get("rows", [])
        return {r["model"]: r["zoo"]["median"] for r in rows}

    def section(module: str, function: str):  # the newer sections import lazily
        import importlib

        return getattr(importlib.import_module(f"benchmarks.{module}"), function)

    return {
        "throughput": ("throughput", lambda: throughput(models, args.runs, scale, log)),
        "accuracy": ("time to accuracy", lambda: time_to_accuracy(args.quick, args.runs, log)),
        "export": ("export", lambda: export_section(args.quick, log)),
        "pipeline": ("input pipeline",
                     lambda: pipeline_section(args.quick, consumption(), log)),
        "serving": ("serving", lambda: section("serving", "serving_section")(args.quick, log)),
        "language": ("language models",
                     lambda: section("language", "language_section")(args.quick, log)),
        "insight": ("monitor cost",
                    lambda: section("insight", "insight_section")(args.quick, log)),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of {SECTIONS}")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="tiny smoke run (mnist_mlp only)")
    p.add_argument("--models", default=None, help="comma list (default: all benchmarked)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    p.add_argument("--no-readme", action="store_true", help="leave README.md alone")
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep the other sections of an earlier results .json (rerun one section)",
    )
    args = p.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = set(only) - set(SECTIONS)
    if bad:
        p.error(f"unknown section(s) {sorted(bad)}; choose from {SECTIONS}")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    models = ("mnist_mlp",) if args.quick else (*CORE, *FAMILIES)
    if args.models:
        models = tuple(m.strip() for m in args.models.split(",") if m.strip())
        unknown = set(models) - set(SAMPLES)
        if unknown:
            p.error(f"no throughput workload for {sorted(unknown)}; choose from {list(SAMPLES)}")
    scale = 0.05 if args.quick else 1.0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    saved = out.with_suffix(".json")
    hosts = load_hosts(saved)  # the other hosts' last results stay as they were
    here = host_key(machine())
    results: dict[str, Any] = hosts.get(here, {}) if args.merge else {}
    results.update({
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": versions(),
    })  # fmt: skip
    hosts[here] = results

    def save() -> None:  # after every section: a later failure keeps what was measured
        saved.write_text(json.dumps({"hosts": hosts}, indent=2))
        out.write_text(render_hosts(hosts, here))

    runners = _section_runners(args, models, scale, results, log)
    for key in SECTIONS:
        if key in only:
            label, run_section = runners[key]
            log(label)
            earlier = results.get(key)
            results[key] = run_section()
            if key == "throughput" and args.models and earlier:  # --models: replace those rows
                results[key] = merge_throughput(earlier, results[key], results["date"])
            save()  # after every section: a later failure keeps what was measured
    save()
    if not args.no_readme and not args.quick:
        update_readme(headline(results))
    print(f"wrote {out}")
    return 0
