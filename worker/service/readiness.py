"""Readiness: a worker says it is ready only once every pool process has loaded its model, and
only while its broker answers.

Celery logs "ready." as soon as its consumer starts, while pool children may still be loading
their ONNX sessions. Children write a line to a pipe made before the fork once their model is
loaded, or why it could not be; the parent counts the lines before it says ``earmark: ready``,
and only then does :meth:`ReadinessPipe.ready` (the worker's ``/healthz``) turn true. A child
whose model cannot load says why, and the parent stops waiting at once: the worker then stops
(worker/service/runtime.py) rather than stay up never ready (issue #23).

:class:`Health` is what ``/healthz`` asks: the models loaded, then a PING of the broker, so that
a worker whose broker is down or unreachable is not counted ready (issue #23), with the reason.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from producer.redact import redact

#: Seconds between looks at whether the worker is being stopped while it waits.
_STOP_CHECK_S = 0.5
#: Longest line a child writes, in bytes: under PIPE_BUF (4096 on Linux, 512 by POSIX), so that
#: lines of children writing at once never interleave.
_MAX_LINE = 512
#: How a child's line starts: its model loaded, or it failed (the reason follows).
_LOADED, _FAILED = b"+", b"!"


class ReadinessPipe:
    """A pipe shared across the fork: children report, the parent counts."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        self._all_loaded = threading.Event()
        #: Why a child could not load its model, once one said so (in the parent, after wait).
        self.failure: str | None = None

    def report_loaded(self) -> None:
        """Called in a child once its model is loaded."""
        os.write(self._write, _LOADED + b"\n")

    def report_failed(self, reason: str) -> None:
        """Called in a child whose model could not load: `reason`, on one line."""
        line = _FAILED + " ".join(reason.split()).encode("utf-8", "replace")
        os.write(self._write, line[: _MAX_LINE - 1] + b"\n")

    def wait(
        self, count: int, timeout_s: float, stopping: Callable[[], bool] = lambda: False
    ) -> int:
        """How many children reported their model loaded within ``timeout_s`` (at most
        ``count``); sooner once one reports a failure (then in :attr:`failure`) or
        ``stopping()`` turns true: a SIGTERM must not wait out a model that never loads."""
        deadline = time.monotonic() + timeout_s
        poller = select.poll()  # not select(): it fails on descriptors past 1024
        poller.register(self._read, select.POLLIN)
        seen, pending = 0, b""
        while seen < count and self.failure is None and not stopping():
            remaining = min(deadline - time.monotonic(), _STOP_CHECK_S)
            if remaining <= 0:
                break
            if poller.poll(remaining * 1000):
                *lines, pending = (pending + os.read(self._read, 4096)).split(b"\n")
                seen += self._count(lines)
        if seen >= count and self.failure is None:
            self._all_loaded.set()
        return min(seen, count)

    def _count(self, lines: list[bytes]) -> int:
        """The loaded children among `lines`; the first failure's reason kept."""
        for line in lines:
            if line.startswith(_FAILED) and self.failure is None:
                self.failure = line[1:].decode("utf-8", "replace")
        return sum(line == _LOADED for line in lines)

    def ready(self) -> bool:
        """Whether a :meth:`wait` has counted every child it waited for."""
        return self._all_loaded.is_set()

    def close(self) -> None:
        """Close both ends (tests; a worker keeps its pipe for its whole life)."""
        os.close(self._read)
        os.close(self._write)


@dataclass(frozen=True)
class Health:
    """Whether a worker is ready to take jobs, and if not why: ``/healthz``'s answer."""

    readiness: ReadinessPipe
    #: A client of the broker the worker consumes from (producer/state/redis.connect).
    broker: redis.Redis

    def check(self) -> tuple[bool, str]:
        """Ready, or not with the reason: the models still loading, or the broker not answering
        (its error, redacted: a URL in it may hold a password)."""
        if not self.readiness.ready():
            return False, "loading"
        try:
            self.broker.ping()
        except redis.RedisError as e:
            return False, redact(f"broker unreachable: {' '.join(str(e).split())}")
        return True, "ready"
