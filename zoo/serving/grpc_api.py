"""TF Serving's gRPC services (``PredictionService``, ``ModelService``) on ``grpc.aio``,
with the message definitions PyPI's ``tensorflow-serving-api`` ships: TF Serving's own
client stubs talk to it unchanged."""

from __future__ import annotations

import logging
from typing import Any

import grpc
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from zoo.serving import service
from zoo.serving.errors import RequestError
from zoo.serving.models import ModelSet

log = logging.getLogger("zoo.serve")


async def _abort(context: Any, exc: Exception) -> None:
    error = exc if isinstance(exc, RequestError) else service.run_errors(exc)
    if not isinstance(exc, RequestError):
        log.exception("gRPC request failed")
    await context.abort(getattr(grpc.StatusCode, error.grpc_code), error.message)


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, models: ModelSet):
        self.models = models

    async def Predict(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC's names)
        try:
            return await service.predict_grpc(self.models, request)
        except Exception as exc:
            await _abort(context, exc)

    async def GetModelMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        try:
            spec = request.model_spec
            live = self.models[spec.name].get(
                spec.version.value if spec.HasField("version") else None
            )
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.CopyFrom(service.model_spec(live, spec.name))
            response.metadata["signature_def"].Pack(service.signature_map(live))
            return response
        except Exception as exc:
            await _abort(context, exc)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, models: ModelSet):
        self.models = models

    async def GetModelStatus(self, request: Any, context: Any) -> Any:  # noqa: N802
        try:
            spec = request.model_spec
            version = spec.version.value if spec.HasField("version") else None
            return service.status_proto(self.models[spec.name], version)
        except Exception as exc:
            await _abort(context, exc)


def create_server(models: ModelSet, address: str, max_message_bytes: int) -> tuple[Any, int]:
    """A ``grpc.aio`` server with both services on ``address``; returns it and its port."""
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]
    server = grpc.aio.server(options=options)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(models), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(models), server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen for gRPC on {address}")
    return server, port
