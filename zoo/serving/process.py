"""``zoo serve`` as a child process: started on free ports, waited for until ``ready``,
stopped with SIGTERM. For tests, benchmarks and notebooks that need a real server."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

#: The most seconds a server may take to load its models and print ``ready``.
START_TIMEOUT = 180


class ServerProcess:
    """``zoo serve ARGS`` on free ports; ``rest`` is its base URL, ``grpc`` its address,
    ``stdout`` the lines it printed up to ``ready``; its stderr goes to ``log``."""

    def __init__(self, args: list[str], cwd: Path, log: Path):
        command = [sys.executable, "-m", "zoo.cli", "serve", *args]
        command += ["--rest-port", "0", "--grpc-port", "0"]
        self.log = log
        self._stderr = open(log, "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, text=True,
                                     stderr=self._stderr, env={**os.environ})  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.rest, self.grpc = self._wait_ready()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def _wait_ready(self) -> tuple[str, str]:
        deadline = time.monotonic() + START_TIMEOUT
        rest = grpc = None
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.stdout.append(line)
            if line.startswith("page  "):
                rest = line.split()[1].rstrip("/")
            elif line.startswith("gRPC  "):
                grpc = line.split()[1]
            elif line == "ready":
                return rest, grpc
        self.stop()
        raise RuntimeError(f"zoo serve did not get ready: {self.log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Signal the server and wait for it; kill it if it does not stop in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._stderr.close()
        return self.proc.returncode
