"""Dynamic batching for `ccreid serve`: concurrent requests are embedded together.

The model embeds a batch of 16 several times faster per image than 16 batches of one, so
one thread runs the model on whatever has queued: it takes the first waiting item and
every other already waiting (up to ``max_batch``), and waits up to ``max_wait_ms`` for
more only while other requests are still being decoded (`arriving`). A request that comes
alone is run at once, without waiting.

Each item's answer goes to its own future; a batch that fails is run again item by item,
so one request's bad input is that request's error only.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
MAX_BATCH = 16
MAX_WAIT_MS = 5.0


class Batcher(Generic[Item, Result]):
    """Runs ``run(items) -> results`` (one result per item, in order) on batches of the
    items submitted from any thread."""

    def __init__(self, run: Callable[[list[Item]], list[Result]], max_batch: int = MAX_BATCH,
                 max_wait_ms: float = MAX_WAIT_MS) -> None:  # fmt: skip
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError(f"max_batch must be >= 1 and max_wait_ms >= 0, got {max_batch}, "
                             f"{max_wait_ms}")  # fmt: skip
        self.run, self.max_batch, self.max_wait = run, max_batch, max_wait_ms / 1000
        self._queue: deque[tuple[Item, Future]] = deque()
        self._arriving = 0
        self._cond = threading.Condition()
        self.batch_sizes: list[int] = []  # what ran, for tests and benchmarks
        self._thread = threading.Thread(target=self._loop, name="ccreid-batcher", daemon=True)
        self._thread.start()

    @contextmanager
    def arriving(self) -> Iterator[None]:
        """Around a request's decoding: the batch being formed may wait for it."""
        with self._cond:
            self._arriving += 1
        try:
            yield
        finally:
            with self._cond:
                self._arriving -= 1
                self._cond.notify_all()

    def submit(self, item: Item) -> Future:
        future: Future = Future()
        with self._cond:
            self._queue.append((item, future))
            self._cond.notify_all()
        return future

    def _next_batch(self) -> list[tuple[Item, Future]]:
        with self._cond:
            while not self._queue:
                self._cond.wait()
            batch = [self._queue.popleft()]
            deadline = time.monotonic() + self.max_wait
            while len(batch) < self.max_batch:
                if self._queue:
                    batch.append(self._queue.popleft())
                    continue
                left = deadline - time.monotonic()
                if self._arriving == 0 or left <= 0:
                    break
                self._cond.wait(left)
        return batch

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            self.batch_sizes.append(len(batch))
            try:
                results = self.run([item for item, _ in batch])
            except BaseException as exc:  # noqa: BLE001 - each item gets its own outcome
                if len(batch) == 1:
                    batch[0][1].set_exception(exc)
                    continue
                for item, future in batch:
                    _settle(future, self.run, item)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                future.set_result(result)


def _settle(future: Future, run: Callable, item: object) -> None:
    """Run one item alone and give its future the result or the error."""
    try:
        future.set_result(run([item])[0])
    except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
        future.set_exception(exc)
