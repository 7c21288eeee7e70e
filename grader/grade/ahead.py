"""Work `grade` does on one background thread while the class is being graded, so that it is not waiting
at the end or in front of the first student: the judges' imports, the similarity comparison (it needs the
submissions, not their results) and each finished student's plots (grader.report.plotcache).

One thread, in the order given: matplotlib is not thread-safe, and nothing else in the process draws until
`stop`. Plots are optional work: at most MAX_QUEUED wait (a cluster returning results faster than they are
drawn must not hold the class in memory here), and `stop` drops those still waiting, since the pages draw
whatever is missing. Everything else submitted runs to its end.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterator, TypeVar

T = TypeVar("T")


class WorkAhead:
    MAX_QUEUED = 16

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="grade-ahead")
        self._optional: set[Future[Any]] = set()
        self._lock = threading.Lock()

    def submit(self, work: Callable[[], T]) -> Future[T]:
        """Work whose result is wanted later (`.result()` re-raises its error there)."""
        return self._pool.submit(work)

    def maybe(self, work: Callable[[], Any]) -> None:
        """Work worth doing now if there is room; errors are dropped (whoever needs it does it again)."""
        with self._lock:
            if len(self._optional) >= self.MAX_QUEUED:
                return
            try:
                future = self._pool.submit(work)
            except RuntimeError:  # stopped already
                return
            self._optional.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._optional.discard(future)

    def stop(self) -> None:
        with self._lock:
            waiting = list(self._optional)
        for future in waiting:
            future.cancel()  # only those not yet started; the one in hand finishes
        self._pool.shutdown(wait=True)

    @contextlib.contextmanager
    def stopped(self) -> Iterator["WorkAhead"]:
        try:
            yield self
        finally:
            self.stop()
