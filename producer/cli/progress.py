"""A batch's progress while a command waits on it: a live bar on a terminal, plain lines else.

Both say done, failed and pending jobs, the rate jobs finish at (over the last
:data:`RATE_WINDOW_S` seconds) and the time left at that rate.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn
from rich.text import Text

from producer.state.ledger import BatchStatus

#: Seconds of history the finishing rate is measured over.
RATE_WINDOW_S = 30.0
#: Least seconds between two plain progress lines (the last one is always said).
PLAIN_EVERY_S = 10.0


class Rate:
    """Jobs finished per second over the last `window_s` seconds of samples."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def update(self, done: int, now: float | None = None) -> float | None:
        """Add a sample of the done counter; the rate, or None until two samples differ in time."""
        now = time.monotonic() if now is None else now
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window_s:
            self._samples.popleft()
        (then, before), (_, after) = self._samples[0], self._samples[-1]
        return (after - before) / (now - then) if now > then else None


def eta_s(status: BatchStatus, rate: float | None) -> float | None:
    """Seconds until nothing is pending at `rate`; None when it cannot be told."""
    if status.pending == 0:
        return 0.0
    if status.pending is None or not rate:
        return None
    return status.pending / rate


def describe_progress(status: BatchStatus, rate: float | None) -> str:
    """One plain line: done/total, failed, pending, rate and ETA."""
    total = "?" if status.pending is None else status.total
    pending = "unknown" if status.pending is None else status.pending
    eta = eta_s(status, rate)
    return (
        f"batch {status.batch_id}: {status.done}/{total} done, {status.failed} failed,"
        f" {pending} pending, {'-' if rate is None else f'{rate:.1f}'} jobs/s,"
        f" ETA {'-' if eta is None else _duration(eta)}"
    )


class PlainLines:
    """Progress as plain lines on `stream`: at most one per `every_s` seconds, and the last."""

    def __init__(self, stream: TextIO, every_s: float = PLAIN_EVERY_S) -> None:
        self.stream, self.every_s = stream, every_s
        self.rate = Rate()
        self._said = -float("inf")

    def update(self, status: BatchStatus) -> None:
        """Say the counters if enough time passed, or if nothing is pending any more."""
        rate, now = self.rate.update(status.done), time.monotonic()
        if status.pending == 0 or now - self._said >= self.every_s:
            self.stream.write(f"earmark: {describe_progress(status, rate)}\n")
            self.stream.flush()
            self._said = now


class LiveBar:
    """A rich progress bar on a terminal; use as a context manager around the updates."""

    def __init__(self, stream: TextIO, *, transient: bool) -> None:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            _CountsColumn(),
        )
        console = Console(file=stream)
        self.progress = Progress(*columns, console=console, transient=transient)
        self.task = self.progress.add_task("", total=None, start=True, rate=None, status=None)
        self.rate = Rate()

    def __enter__(self) -> LiveBar:
        self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.progress.stop()

    def update(self, status: BatchStatus) -> None:
        """Redraw with the batch's current counters."""
        total = None if status.pending is None else status.total
        rate = self.rate.update(status.done)
        self.progress.update(
            self.task,
            description=f"batch {status.batch_id}",
            completed=status.done,
            total=total,
            rate=rate,
            status=status,
        )


class _CountsColumn(ProgressColumn):
    """done/total · failed · pending · jobs/s · ETA."""

    def render(self, task: Task) -> Text:
        status: BatchStatus | None = task.fields.get("status")
        if status is None:
            return Text("waiting for the first count")
        return Text(describe_progress(status, task.fields.get("rate")).split(": ", 1)[1])


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
