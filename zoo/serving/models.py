"""Served models and their versions, handled as TF Serving handles them.

The newest version folder serves. A newer folder that appears while the server runs is
loaded and warmed up on a loader thread, then swapped in; the old version finishes the
requests it has queued and is unloaded. A version that fails to load is reported on the
status endpoint (state ``END`` with its error) and the serving version keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.serving.adapters import Adapters, adapters_for
from zoo.serving.batching import Batch, Batcher
from zoo.serving.errors import bad_request, not_found
from zoo.serving.versions import SERVING_DEFAULT, LoadedVersion, Signature, version_folders

log = logging.getLogger("zoo.serve")

#: The longest load error shown on the status endpoint.
MAX_ERROR_CHARS = 600


@dataclass
class VersionStatus:
    """One row of TF Serving's ``model_version_status``."""

    version: int
    state: str  # LOADING, AVAILABLE, UNLOADING, END
    error_code: str = "OK"
    error_message: str = ""


@dataclass
class Live:
    """The version that serves, with its batcher and what it is for people."""

    loaded: LoadedVersion
    batcher: Batcher
    adapters: Adapters

    @property
    def version(self) -> int:
        return self.loaded.version

    def signature(self, name: str | None) -> Signature:
        key = name or SERVING_DEFAULT
        if key not in self.loaded.signatures:
            raise bad_request(f'Serving signature name: "{key}" not found in signature def')
        return self.loaded.signatures[key]


def _load_and_warm(version: int, path: Path) -> LoadedVersion:
    loaded = LoadedVersion(version, path)
    loaded.warm_up()
    return loaded


@dataclass(frozen=True)
class BatchingOptions:
    max_batch_size: int = 32
    timeout_ms: float = 1.0


class ServedModel:
    """One model name: its folder of versions, the live one, and every version's status."""

    def __init__(
        self, name: str, base: Path, batching: BatchingOptions, loader: ThreadPoolExecutor
    ):
        self.name = name
        self.base = base
        self.status: dict[int, VersionStatus] = {}
        self.live: Live | None = None
        self.load_errors: list[str] = []
        self._batching = batching
        self._loader = loader
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"model-{name}")
        self._failed: dict[int, int] = {}  # version -> folder mtime when it failed
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Serve the newest loadable version folder newer than the live one."""
        async with self._lock:
            folders = version_folders(self.base)
            current = self.live.version if self.live else -1
            for version in sorted(folders, reverse=True):
                if version <= current:
                    break
                mtime = folders[version].stat().st_mtime_ns
                if self._failed.get(version) == mtime:
                    continue  # tried as it is now; a rewritten folder is tried again
                if await self._load(version, folders[version], mtime):
                    break

    async def _load(self, version: int, path: Path, mtime: int) -> bool:
        self.status[version] = VersionStatus(version, "LOADING")
        loop = asyncio.get_running_loop()
        try:
            loaded = await loop.run_in_executor(self._loader, _load_and_warm, version, path)
            adapters = adapters_for(self.base, self.name, loaded.signatures[SERVING_DEFAULT])
        except Exception as exc:  # any broken folder: reported, never fatal
            message = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
            self._failed[version] = mtime
            self.status[version] = VersionStatus(version, "END", "UNKNOWN", message)
            self.load_errors.append(f"{self.name} version {version} ({path}): {message}")
            log.error("%s version %s failed to load: %s", self.name, version, message)
            return False
        batcher = Batcher(loaded.run, self._executor, max_batch_size=self._batching.max_batch_size,
                          timeout_ms=self._batching.timeout_ms)  # fmt: skip
        batcher.start()
        old, self.live = self.live, Live(loaded, batcher, adapters)
        self.status[version] = VersionStatus(version, "AVAILABLE")
        log.info("%s version %s is available", self.name, version)
        if old is not None:
            self.status[old.version] = VersionStatus(old.version, "UNLOADING")
            await old.batcher.drain()  # its queued requests finish on the old weights
            self.status[old.version] = VersionStatus(old.version, "END")
        return True

    def get(self, version: int | None) -> Live:
        """The live version, if ``version`` is None or names it; else TF Serving's 404."""
        live = self.live
        if live is None or (version is not None and version != live.version):
            what = f"Specific({self.name}, {version})"
            if version is None:
                what = f"Latest({self.name})"
            raise not_found(f"Servable not found for request: {what}")
        return live

    def version_status(self, version: int | None) -> list[VersionStatus]:
        if version is None:
            if not self.status:
                raise not_found(f"Could not find any versions of model {self.name}")
            return [self.status[v] for v in sorted(self.status, reverse=True)]
        if version not in self.status:
            raise not_found(f"Could not find version {version} of model {self.name}")
        return [self.status[version]]

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The model's own thread: batches, and work that must not run beside them."""
        return self._executor

    async def run(self, live: Live, signature: Signature, inputs: Batch) -> Batch:
        return await live.batcher.submit(signature.name, inputs)

    async def close(self) -> None:
        if self.live is not None:
            await self.live.batcher.drain()
        self._executor.shutdown(wait=True)


class ModelSet:
    """Every served model by name; polls their folders for new versions."""

    def __init__(self, folders: dict[str, Path], batching: BatchingOptions, poll_seconds: float):
        self._loader = ThreadPoolExecutor(1, thread_name_prefix="loader")
        self.models = {n: ServedModel(n, p, batching, self._loader) for n, p in folders.items()}
        self.poll_seconds = poll_seconds
        self._watch: asyncio.Task | None = None

    def __getitem__(self, name: str) -> ServedModel:
        if name not in self.models:
            raise not_found(f"Servable not found for request: Latest({name})")
        return self.models[name]

    async def start(self) -> None:
        await asyncio.gather(*(m.refresh() for m in self.models.values()))
        if self.poll_seconds > 0:
            self._watch = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            for model in self.models.values():
                try:
                    await model.refresh()
                except OSError as exc:  # the folder went away: keep serving what is loaded
                    log.warning("cannot read %s: %s", model.base, exc)

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        await asyncio.gather(*(m.close() for m in self.models.values()))
        self._loader.shutdown(wait=False)

    def describe(self) -> list[dict[str, Any]]:
        """For the page: every model, its live version and what it is."""
        rows = []
        for name, model in sorted(self.models.items()):
            live = model.live
            row = {"name": name, "version": live.version if live else None,
                   "available": live is not None}  # fmt: skip
            if live is not None:
                row.update(live.adapters.describe())
                b = live.batcher
                row["batching"] = {"batches": b.batches, "instances": b.instances,
                                   "max_batch_size": b.max_batch_size,
                                   "timeout_ms": b.timeout * 1000}  # fmt: skip
            rows.append(row)
        return rows
