"""Pretrained weights for keras.applications backbones, offline-safe.

``weights="imagenet"`` uses keras's cache (``$KERAS_HOME/models``) and
downloads only when the host answers; offline and uncached it fails at once
naming the file and the folder to put it in, instead of keras's slow
"URL fetch failure". ``weights=PATH`` loads a local file (no hash check).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo.errors import WeightsUnavailableError


class _Reachable(Exception):
    """Raised by a preflight check once the weights file is known to be obtainable."""


@contextlib.contextmanager
def _guarded_get_file(entry: str, check_only: bool = False, assume_online: bool = False):
    """Let keras fetch a weights file only if it is cached or the host answers.

    The host is probed in a thread from the start, while keras builds the
    backbone, so an offline failure costs the build, not the build plus the probe.
    """
    import concurrent.futures

    from zoo.compat import replaced_get_file
    from zoo.data.remote import keras_home, network_available

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    probe = pool.submit(lambda: assume_online or network_available())
    pool.shutdown(wait=False)

    def guarded(fname: str | None = None, origin: str | None = None, **kw: Any):
        subdir = kw.get("cache_subdir", "datasets")
        folder = Path(kw.get("cache_dir") or keras_home()) / subdir
        name = fname or (origin or "").rsplit("/", 1)[-1]
        if not (folder / name).exists() and not probe.result():
            raise WeightsUnavailableError(
                f"{entry}: ImageNet weights {name!r} are not cached and the download host "
                f"cannot be reached. Download {origin} and put it in {folder}/ "
                "(keras checks its hash), pass weights='path/to/file.h5' to load a local "
                "copy, or weights=None to start from random weights."
            )
        if check_only:
            raise _Reachable(name, origin)
        return real(fname, origin, **kw)

    with replaced_get_file(guarded) as real:
        yield


def imagenet_weights(app: Callable[..., Any], weights: str | None, *, entry: str, **options):
    """Build ``app(**options)`` with ``weights`` = ``"imagenet"``, ``None`` or a file path."""
    from zoo.errors import InvalidArgumentError

    if weights is None:
        return _build(app, entry, weights=None, **options)
    if weights == "imagenet":
        with _guarded_get_file(entry):
            return _build(app, entry, weights="imagenet", **options)
    path = Path(os.path.expanduser(weights))
    if not path.is_file():
        raise InvalidArgumentError(
            f"{entry}: weights must be 'imagenet', None or the path of a weights file; "
            f"no file at {str(path)!r}."
        )
    model = _build(app, entry, weights=None, **options)
    try:
        model.load_weights(str(path))
    except Exception as exc:
        raise InvalidArgumentError(
            f"{entry}: cannot load weights from {str(path)!r} into "
            f"{getattr(app, '__name__', 'the backbone')} with include_top=False: {exc}"
        ) from None
    return model


def requested_download(app: Callable[..., Any], *, entry: str, **options: Any) -> tuple[str, str]:
    """The ImageNet weights file name and URL keras asks for when building ``app(**options)``."""
    try:
        with _guarded_get_file(entry, check_only=True, assume_online=True):
            _build(app, entry, weights="imagenet", **options)
    except _Reachable as found:
        return str(found.args[0]), str(found.args[1])
    raise AssertionError(f"{entry}: keras built without asking for a weights file")


def _build(app: Callable[..., Any], entry: str, **kwargs: Any):
    from zoo.errors import InvalidArgumentError

    try:
        return app(**kwargs)
    except ValueError as exc:
        raise InvalidArgumentError(f"{entry}: {exc}") from None
