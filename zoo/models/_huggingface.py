"""Hugging Face checkpoints, as keras-hub converts them: a local safetensors folder or an
``hf://org/name`` handle (online, or in the local cache). Pickle checkpoints are refused:
loading one can run arbitrary code."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from zoo.errors import DataFormatError, InvalidArgumentError, WeightsUnavailableError

HF_HOST = "huggingface.co"


def check_checkpoint(checkpoint: str, model_type: str, needed: Sequence[str]) -> None:
    """A clear error before keras-hub sees a checkpoint it cannot or must not load."""
    if checkpoint.startswith("hf://"):
        _check_handle(checkpoint)
        return
    path = Path(os.path.expanduser(checkpoint))
    if not path.is_dir():
        raise InvalidArgumentError(
            f"checkpoint must be a Hugging Face folder or an hf://org/name handle; "
            f"no folder at {str(path)!r}."
        )
    if not (path / "model.safetensors").is_file():
        if any(path.glob("*.bin")) or any(path.glob("*.pt")) or any(path.glob("*.ckpt")):
            raise InvalidArgumentError(
                f"{path} holds a pickle checkpoint (pytorch_model.bin), which can run arbitrary "
                "code when loaded: the zoo loads safetensors only. Convert it once where you "
                "trust it (transformers: model.save_pretrained(dir, safe_serialization=True)) "
                "and pass that folder."
            )
        raise InvalidArgumentError(f"{path} has no model.safetensors.")
    if (path / "config.json").is_file():
        _check_model_type(path, model_type)
    for name in needed:
        if not (path / name).is_file():
            raise InvalidArgumentError(f"{path} lacks {name}, which the conversion needs.")


def _check_handle(checkpoint: str) -> None:
    """Offline, an ``hf://`` handle must be in the local cache; then never touch the hub."""
    from zoo.data.remote import network_available

    if network_available(HF_HOST):
        return
    from huggingface_hub import try_to_load_from_cache

    repo = checkpoint[len("hf://") :]
    if not isinstance(try_to_load_from_cache(repo, "config.json"), str):
        raise WeightsUnavailableError(
            f"{checkpoint} is not in the local Hugging Face cache and {HF_HOST} cannot "
            f"be reached. Download it where you are online (`huggingface-cli download "
            f"{repo} --local-dir DIR`) and pass checkpoint=DIR."
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # use the local cache, never hang


def _check_model_type(path: Path, model_type: str) -> None:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(
            f"{path / 'config.json'}: not valid JSON ({exc}). Download the checkpoint again "
            "or restore the file Hugging Face wrote."
        ) from None
    found = config.get("model_type") if isinstance(config, dict) else None
    if found != model_type:
        raise InvalidArgumentError(
            f"{path} is a {found!r} checkpoint; this entry takes {model_type!r} checkpoints."
        )


@contextlib.contextmanager
def conversion_errors(checkpoint: str) -> Iterator[None]:
    """keras-hub's load errors as the zoo's: unreachable handles, unconvertible folders."""
    try:
        yield
    except (OSError, ValueError) as exc:
        if checkpoint.startswith("hf://"):
            raise WeightsUnavailableError(
                f"Cannot load {checkpoint} (the hub is unreachable and it is not in the local "
                f"Hugging Face cache): {exc}. Download it where you are online, e.g. "
                f"`huggingface-cli download {checkpoint[5:]} --local-dir DIR`, and pass "
                "checkpoint=DIR."
            ) from None
        raise InvalidArgumentError(f"Cannot convert checkpoint {checkpoint!r}: {exc}") from None
