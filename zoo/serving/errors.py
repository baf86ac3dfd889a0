"""Request errors with the status TF Serving gives them, for REST and gRPC alike."""

from __future__ import annotations

from zoo.errors import ZooError

#: HTTP status -> the gRPC status code name TF Serving maps it from.
GRPC_CODES = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 413: "RESOURCE_EXHAUSTED",
              503: "UNAVAILABLE", 500: "INTERNAL"}  # fmt: skip


class RequestError(ZooError):
    """A request the server refuses; ``status`` is the HTTP code (400, 404, 413, 503)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def grpc_code(self) -> str:
        return GRPC_CODES.get(self.status, "UNKNOWN")


def bad_request(message: str) -> RequestError:
    return RequestError(400, message)


def not_found(message: str) -> RequestError:
    return RequestError(404, message)
