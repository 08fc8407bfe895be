"""Readiness: a worker says it is ready only once every pool process has loaded its model.

Celery logs "ready." as soon as its consumer starts, while pool children may still be loading
their ONNX sessions. Children write a byte to a pipe made before the fork once their model is
loaded; the parent counts the bytes before it says ``earmark: ready``, and only then does
:meth:`ReadinessPipe.ready` (the worker's ``/healthz``) turn true.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Callable

#: Seconds between looks at whether the worker is being stopped while it waits.
_STOP_CHECK_S = 0.5


class ReadinessPipe:
    """A pipe shared across the fork: children report, the parent counts."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        self._all_loaded = threading.Event()

    def report_loaded(self) -> None:
        """Called in a child once its model is loaded."""
        os.write(self._write, b"+")

    def wait(
        self, count: int, timeout_s: float, stopping: Callable[[], bool] = lambda: False
    ) -> int:
        """How many children reported within ``timeout_s`` (at most ``count``), or before
        ``stopping()`` turned true: a SIGTERM must not wait out a model that never loads."""
        deadline = time.monotonic() + timeout_s
        poller = select.poll()  # not select(): it fails on descriptors past 1024
        poller.register(self._read, select.POLLIN)
        seen = 0
        while seen < count and not stopping():
            remaining = min(deadline - time.monotonic(), _STOP_CHECK_S)
            if remaining <= 0:
                break
            if poller.poll(remaining * 1000):
                seen += len(os.read(self._read, count - seen))
        if seen >= count:
            self._all_loaded.set()
        return seen

    def ready(self) -> bool:
        """Whether a :meth:`wait` has counted every child it waited for."""
        return self._all_loaded.is_set()

    def close(self) -> None:
        """Close both ends (tests; a worker keeps its pipe for its whole life)."""
        os.close(self._read)
        os.close(self._write)
