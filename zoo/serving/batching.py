"""Dynamic batching: concurrent requests to one model version become one batch.

TF Serving's two main knobs: ``max_batch_size`` (instances per batch) and
``batch_timeout_ms`` (how long a batch that is not full waits for more). Requests
queue while the model runs the previous batch, so under load batches fill without
waiting; alone, a request waits at most the timeout. Requests whose inputs cannot be
stacked (other shapes, other signature) run in a batch of their own kind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

Batch = dict[str, np.ndarray]


@dataclass
class _Pending:
    signature: str
    inputs: Batch
    size: int
    future: asyncio.Future = field(repr=False)

    def key(self) -> tuple:
        return (self.signature,) + tuple(
            (k, v.dtype.str, v.shape[1:]) for k, v in sorted(self.inputs.items())
        )


class Batcher:
    """Merges requests for ``run(signature, batch)``; one batch runs at a time."""

    def __init__(
        self,
        run: Callable[[str, Batch], Batch],
        executor: Executor,
        *,
        max_batch_size: int = 32,
        timeout_ms: float = 1.0,
    ):
        self._run = run
        self._executor = executor
        self.max_batch_size = max_batch_size
        self.timeout = timeout_ms / 1000.0
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self.batches = 0  # batches run, and the instances in them: for tests and stats
        self.instances = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def submit(self, signature: str, inputs: Batch) -> Batch:
        """Queue one request's batch; returns its own rows of the outputs."""
        size = len(next(iter(inputs.values())))
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(signature, inputs, size, future))
        return await future

    async def drain(self) -> None:
        """Run what is queued, then stop (requests queued before this call all finish)."""
        self._queue.put_nowait(None)
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        carry: list[_Pending] = []
        while True:
            first = carry.pop(0) if carry else await self._queue.get()
            if first is None:
                return
            group, stop = await self._collect(first, carry)
            await self._execute(group)
            if stop:
                carry.append(None)  # type: ignore[arg-type]

    async def _collect(self, first: _Pending, carry: list) -> tuple[list[_Pending], bool]:
        """``first`` plus compatible queued requests, up to the batch size or the timeout."""
        group, size, key = [first], first.size, first.key()
        deadline = asyncio.get_running_loop().time() + self.timeout
        while size < self.max_batch_size:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), left)
                except asyncio.TimeoutError:
                    break
            if item is None:
                return group, True
            if item.key() == key and size + item.size <= self.max_batch_size:
                group.append(item)
                size += item.size
            else:
                carry.append(item)
                break
        return group, False

    async def _execute(self, group: list[_Pending]) -> None:
        merged = {k: np.concatenate([p.inputs[k] for p in group]) for k in group[0].inputs}
        loop = asyncio.get_running_loop()
        try:
            outputs = await loop.run_in_executor(self._executor, self._run, group[0].signature,
                                                 merged)  # fmt: skip
        except Exception as exc:  # a model error fails this batch's requests, not the server
            for p in group:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        self.batches += 1
        self.instances += len(next(iter(merged.values())))
        start = 0
        for p in group:
            if not p.future.done():  # the client may have gone
                p.future.set_result({k: v[start : start + p.size] for k, v in outputs.items()})
            start += p.size
