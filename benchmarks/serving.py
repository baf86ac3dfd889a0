"""Serving throughput and latency: ``zoo serve`` (REST and gRPC) against the tutorial's
FastAPI endpoint (one ``model.predict`` per request), at 1, 8 and 32 concurrent clients.

Every client sends one instance per request on its own keep-alive connection (gRPC:
one shared HTTP/2 channel), for a fixed time. The servers run one after the other on
the same machine, with the same model file and the same inputs; clients and servers
share the machine's cores, the same for every system.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from benchmarks.harness import ROOT, BenchmarkError, clean_env, stamp

MODELS = ("mnist_mlp", "cifar10_cnn")
CLIENTS = (1, 8, 32)
SYSTEMS = ("zoo REST", "zoo gRPC", "FastAPI + predict")


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run_load(make_sender: Callable[[], Callable[[], None]], clients: int, seconds: float) -> dict:
    """``clients`` threads each calling its sender for ``seconds``: requests/s, p50, p99."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        send = make_sender()
        own: list[float] = []
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            try:
                send()
            except Exception as exc:  # counted, and reported in the table
                with lock:
                    failures.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            own.append(time.perf_counter() - start)
        with lock:
            latencies.extend(own)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    elapsed = time.monotonic() - began
    return {
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": 1000 * _percentile(latencies, 50),
        "p99_ms": 1000 * _percentile(latencies, 99),
        "requests": len(latencies),
        "failures": len(failures),
        "first_failure": failures[0] if failures else None,
    }


def rest_sender(base: str, path: str, body: bytes) -> Callable[[], Callable[[], None]]:
    url = urlparse(base)

    def make() -> Callable[[], None]:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)

        def send() -> None:
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            reply = conn.getresponse()
            data = reply.read()
            if reply.status != 200:
                raise RuntimeError(f"HTTP {reply.status}: {data[:100]!r}")

        return send

    return make


def grpc_sender(
    address: str, model: str, input_name: str, x: np.ndarray
) -> Callable[[], Callable[[], None]]:
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(address))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs[input_name].CopyFrom(tf.make_tensor_proto(x))

    def make() -> Callable[[], None]:
        return lambda: stub.Predict(request, timeout=60)

    return make


class Baseline:
    """The tutorial's FastAPI app on uvicorn, serving ``model_file``."""

    def __init__(self, model_file: Path, port: int, log: Path):
        env = clean_env({"ZOO_BENCH_MODEL": str(model_file)})
        cmd = [sys.executable, "-m", "uvicorn", "benchmarks.programs.fastapi_tutorial:app",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]  # fmt: skip
        self._log = open(log, "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=self._log, stderr=self._log)
        self.base = f"http://127.0.0.1:{port}"
        self._wait(log)

    def _wait(self, log: Path, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        url = urlparse(self.base)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise BenchmarkError(f"the FastAPI baseline did not start: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare(name: str, folder: Path) -> tuple[Path, Path, np.ndarray]:
    """The model as ``.keras`` (baseline) and exported (zoo serve), and one input."""
    import keras

    import zoo
    from zoo.exporting import export

    keras.utils.set_random_seed(0)
    model = zoo.build(name)
    model_file = folder / f"{name}.keras"
    model.save(model_file)
    export(model, folder / name, formats=["saved_model"], name=name)
    shape = tuple(model.input_shape[1:])
    x = np.random.default_rng(0).uniform(0, 1, (1, *shape)).astype("float32")
    return model_file, folder / name, x


def _measure_model(name: str, seconds: float, log) -> list[dict[str, Any]]:
    from zoo.serving.process import ServerProcess

    rows = []
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        folder = Path(tmp)
        model_file, export_dir, x = _prepare(name, folder)
        body = json.dumps({"instances": x.tolist()}).encode()
        server = ServerProcess([str(export_dir)], folder, folder / "serve.log")
        baseline = Baseline(model_file, _free_port(), folder / "baseline.log")
        senders = {
            "zoo REST": rest_sender(server.rest, f"/v1/models/{name}:predict", body),
            "zoo gRPC": grpc_sender(server.grpc, name, _input_name(export_dir), x),
            "FastAPI + predict": rest_sender(baseline.base, "/predict", body),
        }
        try:
            for make in senders.values():  # warm-up: first calls trace and allocate
                run_load(make, 2, 1.0)
            for clients in CLIENTS:
                for system in _rotated(SYSTEMS, clients):
                    result = run_load(senders[system], clients, seconds)
                    rate, p99 = result["requests_per_s"], result["p99_ms"]
                    log(f"  {name} {clients:>2} clients {system}: {rate:.0f}/s, p99 {p99:.1f} ms")
                    if result["failures"]:
                        log(f"    {result['failures']} failed: {result['first_failure']}")
                    rows.append({"model": name, "clients": clients, "system": system, **result})
        finally:
            server.stop()
            baseline.stop()
    return rows


def _input_name(export_dir: Path) -> str:
    from zoo.serving.versions import SERVING_DEFAULT, read_signatures

    (name,) = read_signatures(export_dir / "1")[SERVING_DEFAULT].inputs
    return name


def _rotated(items: tuple[str, ...], k: int) -> tuple[str, ...]:
    """A different order per concurrency, so no system always runs first."""
    i = k % len(items)
    return items[i:] + items[:i]


def serving_section(quick: bool, log) -> dict[str, Any]:
    seconds = 2.0 if quick else 8.0
    models = MODELS[:1] if quick else MODELS
    rows = [r for name in models for r in _measure_model(name, seconds, log)]
    return {"seconds": seconds, "rows": rows, **stamp()}


def speedups(section: dict[str, Any]) -> list[dict[str, Any]]:
    """Per model and concurrency: zoo REST and gRPC against the baseline."""
    by = {(r["model"], r["clients"], r["system"]): r for r in section["rows"]}
    out = []
    for model, clients in sorted({(r["model"], r["clients"]) for r in section["rows"]}):
        base = by.get((model, clients, "FastAPI + predict"))
        if not base or not base["requests_per_s"]:
            continue
        row = {"model": model, "clients": clients}
        for system in ("zoo REST", "zoo gRPC"):
            r = by[(model, clients, system)]
            row[system] = r["requests_per_s"] / base["requests_per_s"]
            row[f"{system} p99 below"] = r["p99_ms"] < base["p99_ms"]
        out.append(row)
    return out


__all__ = ["run_load", "serving_section", "speedups"]
