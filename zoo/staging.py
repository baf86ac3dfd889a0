"""Write artifacts so that a crash or a kill never leaves half a file under a final name.

Everything is written inside ``FOLDER/.staging/`` first (a name carrying the
writer's process id) and renamed into place when complete; ``os.replace`` is
atomic on one filesystem. A writer killed with ``SIGKILL`` leaves its part in
``.staging/``, which the next writer in that folder removes. Files and folders
get the user's umask (``mkstemp`` alone would make them private, 0600, and a
TF Serving process running as another user could not read them).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

STAGING = ".staging"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def apply_umask(path: Path) -> None:
    """Give ``path`` (and a folder's contents) the modes a plain ``open``/``mkdir`` would."""
    mask = _umask()
    paths = [path, *path.rglob("*")] if path.is_dir() else [path]
    for p in paths:
        if p.is_symlink():
            continue
        os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~mask)


def staging_folder(folder: Path) -> Path:
    """``folder/.staging``, created, with stale parts of dead writers removed."""
    staging = folder / STAGING
    staging.mkdir(parents=True, exist_ok=True)
    clean_stale(folder)
    return staging


def clean_stale(folder: Path) -> None:
    """Remove the staged parts whose writer process is gone."""
    for part in (folder / STAGING).iterdir():
        if _writer_alive(part.name):
            continue
        if part.is_dir():
            shutil.rmtree(part, ignore_errors=True)
        else:
            part.unlink(missing_ok=True)


def _writer_alive(name: str) -> bool:
    try:
        pid = int(name.split("-", 1)[0])
    except ValueError:
        return False  # not ours to keep
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def temp_dir(folder: Path, label: str) -> Path:
    """A fresh staging folder inside ``folder/.staging`` for a multi-file artifact."""
    path = Path(tempfile.mkdtemp(dir=staging_folder(folder), prefix=f"{os.getpid()}-{label}-"))
    os.chmod(path, 0o777 & ~_umask())
    return path


def write_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    """Write ``path`` through a staged temporary file, then rename: never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_folder(path.parent)
    fd, tmp = tempfile.mkstemp(
        dir=staging, prefix=f"{os.getpid()}-{path.stem}-", suffix=path.suffix
    )
    os.close(fd)
    try:
        write(Path(tmp))
        apply_umask(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        _remove_if_empty(staging)


def _remove_if_empty(staging: Path) -> None:
    try:
        staging.rmdir()
    except OSError:
        pass  # another writer's part is there, or it is already gone


def check_output_folder(path: Path, flag: str = "out_dir") -> None:
    """Fail early, naming ``flag``, when ``path`` cannot be (or become) a writable folder."""
    from zoo.errors import InvalidArgumentError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InvalidArgumentError(
            f"{flag} {str(path)!r} is a file, not a folder. Give a folder path (it is created "
            "if missing), or move the file away."
        )
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InvalidArgumentError(
            f"{flag} {str(path)!r} cannot be created: {str(existing)!r} is a file. "
            "Give a folder path."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InvalidArgumentError(
            f"{flag} {str(path)!r}: no permission to write in {str(existing)!r}. Pick another "
            "folder, or fix its permissions."
        )
