"""``zoo`` command line: argument parsing and printing only.

The work happens in ``zoo`` and ``recipes``; this module imports them lazily
so ``zoo --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from recipes.augment import AUGMENTATIONS
from recipes.recipe import PRECISIONS
from recipes.schedules import SCHEDULES
from zoo.data.files import CSV_TASKS
from zoo.distribute import KINDS
from zoo.registry import BACKENDS, QUANTIZATIONS
from zoo.tuning import TUNERS

# the choices above come from the modules that define them (none imports TensorFlow)


class _Parser(argparse.ArgumentParser):
    """argparse with a two-line error instead of the whole usage block."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n(`{self.prog} --help` lists the options)\n")


def _checked(parse, rule, flag: str):
    """An argparse type: ``parse`` the text, then apply a ``zoo.checks`` rule named ``flag``."""

    def convert(text: str):
        from zoo.errors import InvalidArgumentError

        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        try:
            return rule(flag, value)
        except InvalidArgumentError as exc:  # argparse names the flag already
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{flag} ")) from None

    convert.__name__ = flag
    return convert


def _int_at_least(low: int, flag: str):
    from zoo.checks import int_in_range

    return _checked(int, lambda k, v: int_in_range(k, v, low), flag)


def _seed_type():
    from zoo.checks import seed

    return _checked(int, lambda k, v: seed(v, k), "--seed")


def _rate_type(flag: str):
    from zoo.checks import positive_float

    return _checked(float, positive_float, flag)


def _rate_or_auto(flag: str):
    """A learning rate, or ``auto``: the learning-rate finder's suggestion."""
    rate = _rate_type(flag)

    def convert(text: str):
        return "auto" if text == "auto" else rate(text)

    convert.__name__ = flag
    return convert


def _parse_value(text: str) -> Any:
    """``--set`` values: JSON when it parses (numbers, lists, true), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _parse_sets(pairs: Sequence[str]) -> dict[str, Any]:
    from zoo.errors import InvalidArgumentError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(f"--set expects key=value, got {pair!r}.")
        out[key.strip().replace("-", "_")] = _parse_value(value)
    return out


def cmd_list(args: argparse.Namespace) -> int:
    import zoo

    names = zoo.list_models(args.pattern, task=args.task, tag=args.tag)
    if not names:
        print(f"No model matches {args.pattern!r}.", file=sys.stderr)
        return 1
    width = max(len(n) for n in names)
    for n in names:
        card = zoo.info(n)
        print(f"{n:<{width}}  {card['task']:<14}  {card['summary']}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import zoo

    if args.summary:
        from zoo.sizes import default_model

        default_model(args.name).summary()
        return 0
    card = zoo.info(args.name, size=True)
    if args.json:
        print(json.dumps(card, indent=2))
        return 0
    print(f"{card['name']}  ({card['task']})")
    print(f"  {card['summary']}")
    print(f"  tutorial section: {card['section']}")
    print(f"  input:  {card['input']}")
    print(f"  output: {card['output']}")
    print("  defaults:")
    for k, v in card["defaults"].items():
        print(f"    {k} = {v!r}")
    print(f"  compile: {card['compile']}")
    r = card["recipe"]
    print(f"  recipe: dataset={r['dataset']} epochs={r['epochs']} batch_size={r['batch_size']}")
    print(f"  size: {_size_text(card)}")
    for line in _results_lines(card["results"]):
        print(f"  {line}")
    print(f"  exports: {', '.join(card['exports']) or 'none'}")
    if card.get("quantizations"):
        print(f"  TFLite quantizations: {', '.join(card['quantizations'])}")
    if card["search_space"]:
        print("  search space:")
        for k, v in card["search_space"].items():
            print(f"    {k}: {v}")
    return 0


def _results_lines(results: dict[str, Any]) -> list[str]:
    """The card's measured row (python -m benchmarks results) and the published figure."""
    row, figure = results["measured"], results["published"]
    if row is None:
        lines = ["measured: no row in the results table yet (python -m benchmarks results)"]
    elif row["status"] == "measured":
        kind = "" if row["data"] == "real" else f", {row['data']} data"
        target = f"; recipe target {row['target']:.4g}" if row.get("target") is not None else ""
        lines = [
            f"measured: {row['metric']} {row['value']:.4g} ± {row['std']:.2g} "
            f"({row['seeds']} seeds, {row['dataset']}{kind}, {row['date']}){target}"
        ]
    else:
        lines = [f"measured: not run ({row['reason']}; {row['date']})"]
    if figure:
        lines.append(
            f"published: {figure['metric']} {figure['value']:.4g} on {figure['dataset']} "
            f"({figure['source']}; {figure['note']})"
        )
    return lines


def _size_text(card: dict[str, Any]) -> str:
    if card.get("params") is None:
        return f"unknown ({card.get('size_note', 'the model could not be built here')})"
    p = card["params"]
    text = (
        f"{p['total']:,} parameters ({p['trainable']:,} trainable, "
        f"{p['non_trainable']:,} non-trainable), {card['flops'] / 1e6:,.1f} MFLOPs per sample "
        "(forward, default input)"
    )
    if card.get("flops_uncounted_layers"):
        text += f"; not counted: {', '.join(card['flops_uncounted_layers'])}"
    return text


def cmd_train(args: argparse.Namespace) -> int:
    import recipes

    result = recipes.train(
        args.name,
        dataset=args.dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        schedule=args.schedule,
        augment=args.augment,
        class_weight=args.class_weight,
        precision=args.precision,
        resume=args.resume,
        tensorboard=args.tensorboard,
        fine_tune_layers=args.fine_tune_layers,
        fine_tune_epochs=args.fine_tune_epochs,
        fine_tune_lr=args.fine_tune_lr,
        out_dir=args.out,
        seed=args.seed,
        overrides=_parse_sets(args.set),
        verbose=args.verbose,
        strategy=args.strategy,
        task=args.task,
        monitor=args.monitor,
    )
    print()
    for k, v in result.metrics.items():
        print(f"{k.replace('_', ' ')}: {v:.4f}")
    _print_baselines(result.report.get("baselines") or {})
    print(f"saved to {result.out_dir}/: " + ", ".join(p.name for p in result.files.values()))
    return 0


def _print_baselines(found: dict[str, Any]) -> None:
    """One line per baseline: its score and the model's lift over it."""
    lifts = found.get("lift", {})
    for name, scores in found.items():
        if name == "lift":
            continue
        gain = lifts.get(name, float("nan"))
        if "accuracy" in scores:
            score, margin = f"accuracy {scores['accuracy']:.4f}", f"{100 * gain:+.1f} points"
        else:
            score, margin = f"rmse {scores['rmse']:.4f}", f"RMSE {-gain:+.4f}"
        print(f"baseline {name.replace('_', ' ')}: {score} (the model: {margin})")


def cmd_check(args: argparse.Namespace) -> int:
    from recipes.check import check

    results = check(args.name, dataset=args.dataset, overrides=_parse_sets(args.set))
    width = max(len(r.name) for r in results)
    for r in results:
        print(f"{'ok  ' if r.passed else 'FAIL'}  {r.name:<{width}}  {r.detail}")
    return 0 if all(r.passed for r in results) else 1


def cmd_lr_find(args: argparse.Namespace) -> int:
    from recipes.lr_find import lr_find

    found = lr_find(
        args.name, dataset=args.dataset, batch_size=args.batch_size, seed=args.seed,
        overrides=_parse_sets(args.set), out_dir=args.out, task=args.task,
    )  # fmt: skip
    print(f"suggested learning rate: {found.suggested_lr:.3g}")
    print(f"rule: {found.rule}")
    print("saved to " + ", ".join(str(p) for p in found.files.values()))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import recipes

    out = recipes.predict(args.model, args.text, trusted=args.trust_code)
    if "translations" in out:
        for text, decoded in zip(args.text, out["translations"]):
            print(f"{decoded}\t{text}")
        return 0
    for text, probs, label in zip(args.text, out["probabilities"], out["predicted"] or []):
        names = out["labels"] or [str(i) for i in range(len(probs))]
        ranked = ", ".join(f"{names[i]} {probs[i]:.3f}" for i in probs.argsort()[::-1][:3])
        print(f"{label}\t({ranked})\t{text[:60]}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from zoo.errors import InvalidArgumentError
    from zoo.loading import load_trained

    model, _, path = load_trained(args.model, trusted=args.trust_code)
    if not hasattr(model, "generate"):
        raise InvalidArgumentError(
            f"{path} is a {type(model).__name__}, not a language model; generate works for "
            "zoo list --task language_model."
        )
    text = model.generate(args.prompt, length=args.length, temperature=args.temperature,
                          top_k=args.top_k, top_p=args.top_p, seed=args.seed)  # fmt: skip
    print(args.prompt + text)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from recipes.interpret import explain

    found = explain(args.model, input_file=args.input, text=args.text, out_dir=args.out,
                    trusted=args.trust_code)  # fmt: skip
    print("predicted " + ", ".join(f"{label} {p:.3f}" for label, p in found["top"]))
    if found.get("tokens"):
        ranked = sorted(found["tokens"], key=lambda tv: -tv[1])[:8]
        print("attends to: " + ", ".join(f"{t} {v:.3f}" for t, v in ranked))
    elif args.text is not None:
        print("(no self-attention in this model: attended tokens are for Transformer models)")
    for path in found["files"].values():
        print(f"wrote {path}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import recipes

    report = recipes.evaluate_model(
        args.model, args.dataset, batch_size=args.batch_size, trusted=args.trust_code
    )
    ev = report["evaluation"]
    for k in (
        "accuracy",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "roc_auc",
        "mse",
        "rmse",
        "mae",
        "r2",
        "perplexity",
    ):
        if ev.get(k) is not None:
            print(f"{k.replace('_', ' ')}: {ev[k]:.4f}")
    print("saved to " + ", ".join(str(p) for p in report["files"].values()))
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from pathlib import Path

    import zoo
    from zoo.reports import jsonable

    directory = Path(args.dir) if args.dir else zoo.tuning.default_directory(args.name)
    best = zoo.tune(
        args.name,
        args.dataset,
        tuner=args.tuner,
        max_trials=args.max_trials,
        objective=args.objective,
        directory=directory,
        epochs=args.epochs,
        batch_size=args.batch_size,
        fixed=_parse_sets(args.set),
        seed=args.seed,
        overwrite=args.overwrite,
        verbose=args.verbose,
    )
    if not zoo.tuning.is_chief():
        print("worker finished: the chief writes the results")
        return 0
    print()
    print((directory / "trials.csv").read_text().rstrip())
    print()
    print("best keywords: " + json.dumps(jsonable(best)))
    print(f"saved to {directory}/: trials.csv, best.json")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import zoo
    from zoo.loading import trained_model_path

    source = trained_model_path(args.model)
    quantize = [None if q == "float32" else q for q in (args.quantize or ["float32"])]
    report = zoo.export(
        source,
        args.out,
        formats=args.formats.split(",") if args.formats else None,
        quantize=quantize,
        dataset=args.dataset,
        int8_io=args.int8_io,
        name=args.name,
        trusted=args.trust_code,
    )
    version = f" (SavedModel version {report.version})" if report.version is not None else ""
    print(f"exported to {report.out_dir}/{version}")
    for art in report.manifest["artifacts"].values():
        par = art["parity"]
        agree = par.get("top1_agreement")
        extra = f", top-1 agreement {agree:.4f}" if agree is not None else ""
        if "accuracy" in par:
            extra += f", accuracy {par['accuracy']:.4f} (Keras {par['accuracy_keras']:.4f})"
        print(
            f"  {art['path']:<32} {art['size_bytes'] / 1e6:8.2f} MB  "
            f"max |diff| {par['max_abs_diff']:.2e}{extra}"
        )
    print(f"  {report.files['manifest'].name}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from zoo.serving import ServeOptions, serve

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("zoo.serve").setLevel(logging.INFO)  # loads, swaps, stops
    options = ServeOptions(host=args.host, rest_port=args.rest_port, grpc_port=args.grpc_port,
                           max_batch_size=args.max_batch_size,
                           batch_timeout_ms=args.batch_timeout_ms, poll_seconds=args.poll_seconds,
                           max_body_mb=args.max_body_mb)  # fmt: skip
    serve(args.models, options)
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    import zoo

    items = zoo.data.list_datasets()
    width = max(len(n) for n in items)
    for n, s in items.items():
        print(f"{n:<{width}}  {s}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    import platform

    import keras
    import tensorflow as tf

    print(f"python      {platform.python_version()} ({sys.executable})")
    print(f"platform    {platform.platform()}")
    print(f"tensorflow  {tf.__version__}")
    print(f"keras       {keras.__version__} (backend: {keras.backend.backend()})")
    from zoo import backends

    others = [b for b in backends.installed() if b != backends.active()]
    print(f"backends    {backends.active()} (active; KERAS_BACKEND or zoo train --backend), "
          f"also installed: {', '.join(others) or 'none'}")  # fmt: skip
    for mod in (
        "keras_hub",
        "keras_tuner",
        "tensorflow_datasets",
        "transformers",
        "ai_edge_litert",
        "sklearn",
    ):
        try:
            from importlib.metadata import version

            dist = {
                "sklearn": "scikit-learn",
                "keras_hub": "keras-hub",
                "keras_tuner": "keras-tuner",
                "ai_edge_litert": "ai-edge-litert",
                "tensorflow_datasets": "tensorflow-datasets",
            }.get(mod, mod)
            print(f"{mod:<11} {version(dist)}")
        except Exception:
            print(f"{mod:<11} not installed")
    gpus = tf.config.list_physical_devices("GPU")
    cpus = tf.config.list_physical_devices("CPU")
    print(f"devices     {len(cpus)} CPU, {len(gpus)} GPU")
    for g in gpus:
        print(f"  {g.name}")
    if not gpus:
        print(f"  no GPU visible to TensorFlow: training runs on the CPU ({os.cpu_count()} cores).")
    print(f"built with CUDA: {tf.test.is_built_with_cuda()}")
    from zoo.registry import COMPILE_KEYWORDS
    from zoo.runtime import APPLIED, RUNTIME_ENV

    for key in RUNTIME_ENV:
        who = "set by zoo" if key in APPLIED else "yours" if key in os.environ else "unset"
        print(f"runtime     {key}={os.environ.get(key, '')} ({who})")
    print(f"compile     steps_per_execution={COMPILE_KEYWORDS['steps_per_execution']} by default")
    for line in _speed_path_lines(keras.backend.backend()):
        print(line)
    print(_data_line(keras.backend.backend()))
    return 0


def _data_line(backend: str) -> str:
    """Whether the zoo's tf.data pipelines (its own, and on TensorFlow Keras' for a zoo
    model's arrays) autotune, and the variable that changes it."""
    from zoo.runtime import DATA_AUTOTUNE_ENV, data_autotune

    which = "zoo.data's" + (
        " and Keras' for a zoo model's arrays" if backend == "tensorflow" else ""
    )
    if data_autotune():
        return f"tf.data     pipelines autotuned: {which} ({DATA_AUTOTUNE_ENV}=1 is set)"
    return (
        f"tf.data     pipelines without autotuning, for steady epochs: {which} "
        f"({DATA_AUTOTUNE_ENV}=1: on)"
    )


def _speed_path_lines(backend: str) -> list[str]:
    """The zoo's speed paths on ``backend``, each with the variable that turns it off."""
    from zoo import runtime

    paths = (
        ("batch norm  ", runtime.fused_batch_norm(), runtime.FUSED_BATCH_NORM_ENV,
         {"tensorflow": "TensorFlow's fused kernel when training"}),
        ("optimizer   Adam, AdamW: ", runtime.fused_optimizer(), runtime.FUSED_OPTIMIZER_ENV,
         {"tensorflow": "one fused TensorFlow op per variable, Keras' ops for a step with a "
                        "sparse gradient"}),
        ("masked RNN  ", runtime.unmasked_right_padding(), runtime.UNMASKED_RIGHT_PADDING_ENV,
         {"tensorflow": "a right-padded training batch runs unmasked, to its longest sequence",
          "torch": "LSTM and GRU through torch's fused kernel, a right-padded batch to its "
                   "longest sequence"}),
    )  # fmt: skip
    return [label + _fused_path(backend, on, env, what) for label, on, env, what in paths]


def _fused_path(backend: str, enabled: bool, env: str, fused: dict[str, str]) -> str:
    """What the zoo runs instead of Keras' own ops on ``backend`` (``fused``), or Keras' own
    ops, and why: no such path on this backend, or the variable ``env``."""
    if backend not in fused:
        return f"Keras' own ops (the fused path is TensorFlow's; {backend} is active)"
    if enabled:
        return f"{fused[backend]} ({env}=0: Keras' own)"
    return f"Keras' own ops ({env}=0 is set)"


def _run_arguments(s: argparse.ArgumentParser, *, set_help: str) -> None:
    """Arguments shared by the commands that train (train, tune)."""
    s.add_argument("name")
    s.add_argument("--dataset", help="dataset name or path (default: the model's own)")
    s.add_argument(
        "--epochs",
        type=_int_at_least(1, "--epochs"),
        help="epochs (tune: per trial; hyperband: the maximum)",
    )
    s.add_argument("--batch-size", type=_int_at_least(1, "--batch-size"))
    s.add_argument("--seed", type=_seed_type(), default=0, help="0 to 2**32-1")
    _set_argument(s, set_help)
    s.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))


def _set_argument(s: argparse.ArgumentParser, help: str) -> None:  # noqa: A002
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=help)


def _trust_argument(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--trust-code",
        action="store_true",
        help="load Lambda layers (Python code) from a .keras file you made or trust",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``zoo`` parser: one small function adds each command's arguments."""
    p = _Parser(prog="zoo", description="A Keras 3 model zoo: build, train, inspect.")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_add_list, _add_info, _add_train, _add_lr_find, _add_check, _add_tune,
                _add_evaluate, _add_predict, _add_explain, _add_generate, _add_export, _add_serve,
                _add_datasets,
                _add_doctor):  # fmt: skip
        add(sub)
    return p


def _add_list(sub: Any) -> None:
    s = sub.add_parser("list", help="list registered models")
    s.add_argument("pattern", nargs="?", default="*", help="shell-style pattern, e.g. '*cnn*'")
    s.add_argument("--task", help="classification, binary, regression, ...")
    s.add_argument("--tag")
    s.set_defaults(func=cmd_list)


def _add_info(sub: Any) -> None:
    s = sub.add_parser("info", help="show a model's card")
    s.add_argument("name")
    s.add_argument("--json", action="store_true", help="print the card as JSON")
    s.add_argument("--summary", action="store_true", help="print the layer summary")
    s.set_defaults(func=cmd_info)


def _add_train(sub: Any) -> None:
    s = sub.add_parser("train", help="train a model with its default recipe")
    _run_arguments(s, set_help="builder or compile keyword, e.g. --set units=[256,128]")
    s.add_argument(
        "--lr", type=_rate_or_auto("--lr"), help="learning rate (> 0), or auto: the finder's"
    )
    s.add_argument(
        "--task",
        choices=CSV_TASKS,
        help="what a CSV's label column is, when many distinct whole numbers leave it open",
    )
    s.add_argument("--out", help="output folder (default: saved_models/NAME)")
    s.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule")
    s.add_argument("--class-weight", choices=("balanced",), help="weigh classes by rarity")
    s.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="dtype policy (default float32; mixed_bfloat16 is faster on CPUs with AMX)",
    )
    s.add_argument(
        "--resume", action="store_true", help="continue a killed run from its last epoch backup"
    )
    s.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs")
    s.add_argument(
        "--backend",
        choices=BACKENDS,
        help="Keras backend to train on (default: KERAS_BACKEND, else tensorflow)",
    )
    s.add_argument(
        "--monitor",
        action="store_true",
        help="gradient norms, dead ReLUs, saturation per layer: gradients.png, warnings",
    )
    s.add_argument(
        "--augment",
        default="default",
        choices=("default", "none", *AUGMENTATIONS),
        help="augmentation pipeline (default: the recipe's)",
    )
    s.add_argument(
        "--fine-tune-layers",
        type=_int_at_least(0, "--fine-tune-layers"),
        help="transfer models: unfreeze this many top backbone layers in phase 2",
    )
    s.add_argument(
        "--fine-tune-epochs", type=_int_at_least(0, "--fine-tune-epochs"), help="phase 2 epochs"
    )
    s.add_argument(
        "--fine-tune-lr",
        type=_rate_type("--fine-tune-lr"),
        help="phase 2 learning rate (default: lr/10)",
    )
    s.add_argument("--strategy", choices=KINDS, help="tf.distribute strategy (default: none)")
    s.set_defaults(func=cmd_train)


def _add_check(sub: Any) -> None:
    s = sub.add_parser("check", help="gradient check, overfit one batch, data checks")
    s.add_argument("name")
    s.add_argument("--dataset", help="dataset name or path (default: the model's own)")
    _set_argument(s, "builder keyword, e.g. --set units=[256,128]")
    s.set_defaults(func=cmd_check)


def _add_lr_find(sub: Any) -> None:
    s = sub.add_parser("lr-find", help="suggest a learning rate (exponential sweep)")
    s.add_argument("name")
    s.add_argument("--dataset", help="dataset name or path (default: the model's own)")
    s.add_argument("--batch-size", type=_int_at_least(1, "--batch-size"))
    s.add_argument("--seed", type=_seed_type(), default=0, help="0 to 2**32-1")
    _set_argument(s, "builder keyword, e.g. --set units=[256,128]")
    s.add_argument("--task", choices=CSV_TASKS, help="what a CSV's label column is")
    s.add_argument("--out", help="folder for lr_find.png and .json (default: saved_models/NAME)")
    s.set_defaults(func=cmd_lr_find)


def _add_tune(sub: Any) -> None:
    s = sub.add_parser("tune", help="search a model's hyperparameters with KerasTuner")
    _run_arguments(s, set_help="pin a keyword instead of searching it")
    s.add_argument("--tuner", default="random", choices=TUNERS)
    s.add_argument("--max-trials", type=_int_at_least(1, "--max-trials"), default=10)
    s.add_argument("--objective", help="default: val_accuracy (classifiers), val_loss")
    s.add_argument("--dir", help="search folder (default: saved_models/NAME/tuning)")
    s.add_argument("--overwrite", action="store_true", help="start over instead of resuming")
    s.set_defaults(func=cmd_tune)


def _add_evaluate(sub: Any) -> None:
    s = sub.add_parser("evaluate", help="evaluation report of a trained model on a dataset")
    s.add_argument("model", help="a registered name (saved_models/NAME/model.keras) or a .keras")
    s.add_argument("--dataset", help="dataset name or path (default: the one it trained on)")
    s.add_argument("--batch-size", type=_int_at_least(1, "--batch-size"), default=256)
    _trust_argument(s)
    s.set_defaults(func=cmd_evaluate)


def _add_predict(sub: Any) -> None:
    s = sub.add_parser("predict", help="classify raw text with a trained text model")
    s.add_argument("model", help="a registered name (saved_models/NAME/model.keras) or a .keras")
    s.add_argument("--text", action="append", required=True, help="a text; repeat for more")
    _trust_argument(s)
    s.set_defaults(func=cmd_predict)


def _add_explain(sub: Any) -> None:
    s = sub.add_parser("explain", help="what decided a trained classifier on one input")
    s.add_argument("model", help="a registered name (saved_models/NAME/model.keras) or a .keras")
    what = s.add_mutually_exclusive_group(required=True)
    what.add_argument("--input", help="an image file (JPEG, PNG, ...)")
    what.add_argument("--text", help="a text, for text classifiers")
    s.add_argument("--out", help="folder for explain.png (default: beside the model)")
    _trust_argument(s)
    s.set_defaults(func=cmd_explain)


def _add_generate(sub: Any) -> None:
    s = sub.add_parser("generate", help="write text with a trained language model")
    s.add_argument("model", help="a registered name (saved_models/NAME/model.keras) or a .keras")
    s.add_argument("--prompt", required=True, help="the text to continue")
    s.add_argument("--length", type=_int_at_least(0, "--length"), default=200,
                   help="new tokens to write (default: 200)")  # fmt: skip
    s.add_argument("--temperature", type=_checked(float, _non_negative, "--temperature"),
                   default=1.0, help="0: greedy (default: 1)")  # fmt: skip
    s.add_argument("--top-k", type=_int_at_least(1, "--top-k"), help="sample among the K likeliest")
    s.add_argument("--top-p", type=_checked(float, _probability, "--top-p"),
                   help="sample from the smallest set with this much probability")  # fmt: skip
    s.add_argument("--seed", type=_seed_type(), help="fix the sampling")
    _trust_argument(s)
    s.set_defaults(func=cmd_generate)


def _non_negative(name: str, value: float) -> float:
    from zoo.checks import positive_float

    return positive_float(name, value, allow_zero=True)


def _probability(name: str, value: float) -> float:
    from zoo.text import check_sampling

    check_sampling(0, 0.0, None, value)
    return value


def _add_export(sub: Any) -> None:
    s = sub.add_parser("export", help="export a trained model: SavedModel, TFLite, ONNX")
    s.add_argument(
        "model", help="a registered name (exports saved_models/NAME/model.keras) or a .keras file"
    )
    s.add_argument("--out", help="output folder (default: saved_models/NAME)")
    s.add_argument(
        "--formats",
        help="comma-separated: saved_model, tflite, onnx (default: what the backend writes: "
        "all three on tensorflow, saved_model,tflite on jax, onnx on torch)",
    )
    s.add_argument(
        "--quantize",
        action="append",
        choices=("float32", *QUANTIZATIONS),
        help="TFLite variant; repeat for several (default: float32)",
    )
    s.add_argument("--dataset", help="calibration and parity data (default: the model's recipe)")
    s.add_argument("--int8-io", action="store_true", help="int8 TFLite inputs and outputs")
    s.add_argument("--name", help="artifact name (default: the model's)")
    _trust_argument(s)
    s.set_defaults(func=cmd_export)


def _add_serve(sub: Any) -> None:
    s = sub.add_parser(
        "serve", help="serve exported models: TF Serving's REST and gRPC APIs, and a page"
    )
    s.add_argument(
        "models",
        nargs="+",
        metavar="NAME|DIR",
        help="a model exported with zoo export (saved_models/NAME/) or an export folder",
    )
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    s.add_argument("--rest-port", type=int, default=8501, help="REST and page port (0: any free)")
    s.add_argument("--grpc-port", type=int, default=8500, help="gRPC port (0: any free)")
    s.add_argument(
        "--max-batch-size",
        type=_int_at_least(1, "--max-batch-size"),
        default=32,
        help="dynamic batching: most instances per batch (default: 32)",
    )
    s.add_argument(
        "--batch-timeout-ms",
        type=float,
        default=1.0,
        help="dynamic batching: how long a batch waits to fill (default: 1)",
    )
    s.add_argument(
        "--poll-seconds",
        type=float,
        default=1.0,
        help="how often to look for new versions (0: never; default: 1)",
    )
    s.add_argument(
        "--max-body-mb",
        type=float,
        default=16.0,
        help="largest request body or gRPC message, MB (default: 16)",
    )
    s.set_defaults(func=cmd_serve)


def _add_datasets(sub: Any) -> None:
    s = sub.add_parser("datasets", help="list registered datasets")
    s.set_defaults(func=cmd_datasets)


def _add_doctor(sub: Any) -> None:
    s = sub.add_parser("doctor", help="versions, backend and visible devices")
    s.set_defaults(func=cmd_doctor)


#: Commands that answer from the registry alone, without TensorFlow.
_LIGHT_COMMANDS = {cmd_list, cmd_datasets}


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that cleanup code runs as for Ctrl-C."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated()


def _run_on_backend(backend: str, argv: list[str]) -> None:
    """Keras picks its backend once, when it is imported, and this process has imported it:
    for another backend the same command replaces this process, with ``KERAS_BACKEND`` set.
    Returns (doing nothing) when the process already runs ``backend``."""
    from zoo import backends

    if backends.active() == backend:
        return
    if backend not in backends.installed():
        from zoo.errors import InvalidArgumentError

        raise InvalidArgumentError(
            f'--backend {backend}: {backend} is not installed; pip install ".[{backend}]" '
            "from the zoo's folder (or the package named like it)."
        )
    sys.stdout.flush()
    sys.stderr.flush()
    env = {**os.environ, "KERAS_BACKEND": backend}
    os.execve(sys.executable, [sys.executable, "-m", "zoo.cli", *argv], env)


def main(argv: Sequence[str] | None = None) -> int:
    import signal

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    from zoo.errors import ZooError

    if getattr(args, "backend", None):
        try:
            _run_on_backend(args.backend, list(sys.argv[1:] if argv is None else argv))
        except ZooError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    signal.signal(signal.SIGTERM, _on_sigterm)  # staged files and child processes go too
    try:
        if args.func not in _LIGHT_COMMANDS:
            from zoo.runtime import import_tensorflow_quietly

            import_tensorflow_quietly()
        return args.func(args)
    except ZooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the user gave: unreadable, unwritable, full disk
        if exc.filename is None:
            raise
        print(f"error: {exc.filename}: {exc.strerror}. Check the path and its permissions.",
              file=sys.stderr)  # fmt: skip
        return 2
    except KeyboardInterrupt as exc:
        print("terminated" if isinstance(exc, _Terminated) else "interrupted", file=sys.stderr)
        return 143 if isinstance(exc, _Terminated) else 130


if __name__ == "__main__":
    sys.exit(main())
