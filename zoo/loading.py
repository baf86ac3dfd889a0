"""Finding and loading trained models: a registered name's ``saved_models/NAME/model.keras``
or a ``.keras`` path, with clear errors for missing, corrupt, truncated or unsafe files."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from zoo.compat import steps_this_backend_runs
from zoo.errors import DataFormatError, InvalidArgumentError


def trained_model_path(name_or_path: str | os.PathLike) -> Path:
    """``saved_models/NAME/model.keras`` for a registered name, else the ``.keras`` path given."""
    path = Path(name_or_path)
    if path.suffix == ".keras":
        if not path.is_file():
            raise InvalidArgumentError(f"No model file at {str(path)!r}.")
        return path
    if path.suffix or os.sep in str(name_or_path):  # a path, not a registered name
        what = "is not a .keras file" if path.exists() else "does not exist"
        raise InvalidArgumentError(
            f"{str(path)!r} {what}: give a Keras 3 .keras model file (model.save('m.keras')) "
            "or the name of a model trained with `zoo train`."
        )
    from zoo.registry import get_entry

    get_entry(str(name_or_path))  # an unknown name fails here with suggestions
    path = Path("saved_models") / str(name_or_path) / "model.keras"
    if not path.is_file():
        raise InvalidArgumentError(
            f"No trained model at {path}: run `zoo train {name_or_path}` first, "
            "or pass the path of a .keras file."
        )
    return path


def load_trained(
    name_or_path: str | os.PathLike, *, trusted: bool = False
) -> tuple[Any, dict[str, Any], Path]:
    """A trained model (registered name or ``.keras`` file), the training report beside it
    (``metrics.json``, or ``{}``) and the file it came from.

    ``trusted=True`` lets Keras run the Python code a file may carry (``Lambda`` layers);
    only for files you made or trust, since loading such a file runs its code.
    """
    import zoo.models  # noqa: F401  - registers the zoo's custom layers for loading

    path = trained_model_path(name_or_path)
    model = load_keras_file(path, trusted=trusted)
    report_path = path.with_name("metrics.json")
    report = {}
    if report_path.is_file():
        try:
            report = json.loads(report_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataFormatError(
                f"{report_path}: the training report is not valid JSON ({exc}). Delete it to "
                f"use {path.name} without it, or train again."
            ) from None
    return model, report, path


def load_keras_file(path: Path, *, trusted: bool = False) -> Any:
    """``keras.saving.load_model`` with a clear error for a corrupt, truncated or unsafe file."""
    import zipfile

    import keras

    if not zipfile.is_zipfile(path):
        raise DataFormatError(
            f"{path}: corrupt or truncated .keras file (not a complete zip archive). "
            "Copy it again, or train again to rewrite it."
        )
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        damaged = archive.testzip()
    if damaged is not None or "config.json" not in names:
        what = f"member {damaged!r} is damaged" if damaged else "it holds no config.json"
        raise DataFormatError(
            f"{path}: corrupt .keras file ({what}). Copy it again, or train again."
        )
    try:
        with warnings.catch_warnings():  # a model saved before its first fit step
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model = keras.saving.load_model(path, safe_mode=not trusted)
        return _zoo_speedups(steps_this_backend_runs(model))
    except ValueError as exc:
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise InvalidArgumentError(
                f"{path}: the model holds a Lambda layer, i.e. Python code that runs when "
                "the file loads, so safe mode refuses it. If you made this file or trust it, "
                "load it with trusted=True (CLI: --trust-code)."
            ) from None
        raise DataFormatError(f"{path}: Keras cannot load this model: {exc}") from None
    except (TypeError, KeyError, OSError) as exc:
        raise DataFormatError(
            f"{path}: Keras cannot load this model ({type(exc).__name__}: {exc}). It may be "
            "damaged or saved by an incompatible Keras version; train or save it again."
        ) from None


def _zoo_speedups(model: Any) -> Any:
    """``model`` training as the zoo's own do: the file holds Keras' classes, and the zoo's
    fused Adam, unmasked right-padded RNN loops and steady array input are set on the
    instances."""
    from zoo.data.array_input import steady_array_input
    from zoo.models._optimizers import fused
    from zoo.models._recurrent import skip_right_padding

    steady_array_input(skip_right_padding(model))
    optimizer = getattr(model, "optimizer", None)
    fused(getattr(optimizer, "inner_optimizer", optimizer))  # inside a loss-scale wrapper
    return model
