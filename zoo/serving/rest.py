"""TF Serving's REST API on Starlette, plus the zoo's page and its generate endpoint.

Paths are matched the way TF Serving's handler matches them (one pattern for every
``/v1/models/...`` URL), so its URL forms and error answers carry over unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import re
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from zoo.serving import service
from zoo.serving.errors import RequestError, bad_request, not_found
from zoo.serving.models import ModelSet

log = logging.getLogger("zoo.serve")
PAGE = Path(__file__).with_name("page")

_URL = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<verb>predict|generate|classify|regress))?$"
)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"Request body is {declared} bytes; the limit is {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"Request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status)


async def _handle_v1(request: Request, models: ModelSet, limit: int) -> Response:
    match = _URL.match(request.url.path)
    if match is None:
        raise not_found(f"Malformed request: {request.method} {request.url.path}")
    name, verb = match["name"], match["verb"]
    version = int(match["version"]) if match["version"] else None
    if request.method == "GET" and verb is None:
        if match["metadata"]:
            return _json(service.metadata_body(models, name, version))
        return _json(service.to_dict(service.status_proto(models[name], version)))
    if request.method == "POST" and verb in ("predict", "generate"):
        doc = service.codec.parse_json(await read_body(request, limit))
        if verb == "predict":
            return _json(await service.predict_rest(models, name, version, doc))
        return _json(await service.generate(models, name, version, doc))
    if verb in ("classify", "regress"):
        raise bad_request(f"{verb} takes tf.Example inputs, which zoo serve does not; use :predict")
    raise RequestError(405, f"Malformed request: {request.method} {request.url.path}")


def create_app(models: ModelSet, *, max_body_bytes: int) -> Starlette:
    """The REST app: TF Serving's ``/v1`` API, ``/zoo/models`` and the page at ``/``."""

    async def v1(request: Request) -> Response:
        try:
            return await _handle_v1(request, models, max_body_bytes)
        except RequestError as exc:
            return _json({"error": exc.message}, exc.status)
        except Exception as exc:  # never a traceback for the client, and keep serving
            log.exception("request failed: %s %s", request.method, request.url.path)
            return _json({"error": f"{type(exc).__name__}: {exc}"}, 500)

    async def listing(request: Request) -> Response:
        return _json({"models": models.describe()})

    async def page(request: Request) -> Response:
        return FileResponse(PAGE / "index.html")

    routes = [
        Route("/", page),
        Route("/models/{name}", page),
        Route("/zoo/models", listing),
        Mount("/static", StaticFiles(directory=PAGE), name="static"),
        Route("/v1/{rest:path}", v1, methods=["GET", "POST", "PUT", "DELETE"]),
    ]
    return Starlette(routes=routes)


class RestServer(uvicorn.Server):
    """uvicorn without its own signal handling: ``zoo serve`` stops REST and gRPC together
    and returns normally, where uvicorn would re-raise the signal once it has stopped."""

    @staticmethod
    def config(app: Starlette, **kwargs: Any) -> uvicorn.Config:
        return uvicorn.Config(app, log_level="warning", lifespan="off", **kwargs)

    @contextlib.contextmanager
    def capture_signals(self):
        yield
