"""``zoo serve``: exported models behind TF Serving's REST and gRPC APIs, with dynamic
batching, version swaps without a restart, and a page where a person can try them.

One process, one asyncio loop: uvicorn (REST and the page) and ``grpc.aio`` (gRPC) share
it; each model runs its batches on its own thread, and new versions load on another.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from zoo.checks import int_in_range, positive_float
from zoo.errors import InvalidArgumentError, ZooError
from zoo.serving.models import BatchingOptions, ModelSet
from zoo.serving.versions import version_folders

log = logging.getLogger("zoo.serve")

#: The largest request body (REST) or message (gRPC), unless told otherwise.
DEFAULT_MAX_BODY_MB = 16.0


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    rest_port: int = 8501
    grpc_port: int = 8500
    max_batch_size: int = 32
    batch_timeout_ms: float = 1.0
    poll_seconds: float = 1.0
    max_body_mb: float = DEFAULT_MAX_BODY_MB
    grace_seconds: float = 30.0

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)


def _model_name(folder: Path) -> str:
    manifest = folder / "export.json"
    if manifest.is_file():
        try:
            return json.loads(manifest.read_text()).get("name") or folder.name
        except json.JSONDecodeError:
            pass  # the folder's name will do; the load reports what is broken
    return folder.name


def resolve_models(targets: Sequence[str], saved_models: Path = Path("saved_models")) -> dict:
    """``NAME`` (``saved_models/NAME/``) or an export folder -> {model name: folder}."""
    if not targets:
        raise InvalidArgumentError("zoo serve needs at least one model name or export folder.")
    found: dict[str, Path] = {}
    for target in targets:
        folder = Path(target)
        if not folder.is_dir():
            folder = saved_models / target
        if not folder.is_dir():
            raise InvalidArgumentError(
                f"{target!r} is neither an export folder nor a model exported with zoo export "
                f"(no {folder}/). Run `zoo export {target}` first, or give the export folder."
            )
        if not version_folders(folder):
            raise InvalidArgumentError(
                f"{folder} has no version folders (1/, 2/, ...) to serve; `zoo export` writes them."
            )
        name = _model_name(folder)
        if name in found:
            raise InvalidArgumentError(
                f"two folders are both model {name!r} ({found[name]} and {folder}); serve one."
            )
        found[name] = folder
    return found


def _check_options(options: ServeOptions) -> None:
    int_in_range("max_batch_size", options.max_batch_size, 1)
    positive_float("max_body_mb", options.max_body_mb)
    int_in_range("rest_port", options.rest_port, 0, 65535)  # 0: any free port
    int_in_range("grpc_port", options.grpc_port, 0, 65535)
    positive_float("batch_timeout_ms", options.batch_timeout_ms, allow_zero=True)
    positive_float("poll_seconds", options.poll_seconds, allow_zero=True)


def serve(
    targets: Sequence[str],
    options: ServeOptions | None = None,
    *,
    out: TextIO = sys.stdout,
) -> None:
    """Serve ``targets`` until SIGTERM or Ctrl-C; prints the URLs (and ``ready``) when
    every loadable model is ``AVAILABLE``. In-flight requests finish before it returns."""
    options = options or ServeOptions()
    _check_options(options)
    folders = resolve_models(targets)
    asyncio.run(_serve(folders, options, out))


def _print_ready(models: ModelSet, host: str, rest_port: int, grpc_port: int, out: TextIO):
    base = f"http://{host}:{rest_port}"
    for name, model in models.models.items():
        if model.live is not None:
            print(f"{name}: version {model.live.version} AVAILABLE  {base}/v1/models/{name}",
                  file=out)  # fmt: skip
    print(f"REST  {base}/v1/models/NAME:predict", file=out)
    print(f"gRPC  {host}:{grpc_port}", file=out)
    print(f"page  {base}/", file=out)
    print("ready", file=out, flush=True)


async def _start_models(folders: dict[str, Path], options: ServeOptions) -> ModelSet:
    batching = BatchingOptions(options.max_batch_size, options.batch_timeout_ms)
    models = ModelSet(folders, batching, options.poll_seconds)
    await models.start()
    errors = [e for m in models.models.values() for e in m.load_errors]
    for error in errors:
        print(f"error: {error}", file=sys.stderr, flush=True)
    if all(m.live is None for m in models.models.values()):
        await models.close()
        raise ZooError("no model could be loaded, so there is nothing to serve (errors above).")
    return models


async def _serve(folders: dict[str, Path], options: ServeOptions, out: TextIO) -> None:
    from zoo.serving.grpc_api import create_server
    from zoo.serving.rest import RestServer, create_app

    models = await _start_models(folders, options)
    grpc_server, grpc_port = create_server(
        models, f"{options.host}:{options.grpc_port}", options.max_body_bytes
    )
    await grpc_server.start()
    app = create_app(models, max_body_bytes=options.max_body_bytes)
    config = RestServer.config(app, host=options.host, port=options.rest_port,
                               timeout_graceful_shutdown=int(options.grace_seconds))  # fmt: skip
    rest = RestServer(config)
    stopping = _on_signals(rest, grpc_server, options.grace_seconds)
    rest_task = asyncio.create_task(rest.serve())
    while not rest.started and not rest_task.done():
        await asyncio.sleep(0.05)
    if rest.started:
        port = rest.servers[0].sockets[0].getsockname()[1]
        _print_ready(models, options.host, port, grpc_port, out)
    try:
        await rest_task
    finally:
        await asyncio.gather(*stopping, grpc_server.stop(options.grace_seconds))
        await models.close()
        _restore_signals()


def _on_signals(rest: Any, grpc_server: Any, grace: float) -> list:
    """SIGTERM and SIGINT: stop accepting, let in-flight requests finish, then return."""
    loop = asyncio.get_running_loop()
    stopping: list = []

    def stop() -> None:
        if not rest.should_exit:
            log.info("stopping: finishing in-flight requests")
            rest.should_exit = True
            stopping.append(loop.create_task(grpc_server.stop(grace)))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    return stopping


def _restore_signals() -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)


__all__ = ["ServeOptions", "resolve_models", "serve"]
