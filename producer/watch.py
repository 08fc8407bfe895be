"""Waiting on a batch: poll its counters and records until every job is done, the timeout
passes (:class:`WaitTimedOut`), or nothing moves for a while (a warning, then on waiting)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from producer.errors import WaitTimedOut
from producer.records import ResultRecord
from producer.state.ledger import BatchStatus

#: Seconds between polls of the ledger and the results store.
POLL_S = 0.2
#: Seconds without a finished job, jobs pending, before the watcher says so.
STALL_S = 30.0


def describe(status: BatchStatus) -> str:
    """What a wait is waiting for, in words."""
    if status.pending is None:
        return (
            f"{status.done} jobs finished, how many are pending is unknown"
            " (no reservation: see docs/protocol.md)"
        )
    return f"{status.pending} of {status.total} jobs still pending"


#: Told that nothing finished for so many seconds, with the batch's counters.
OnStall = Callable[[BatchStatus, float], None]


@dataclass
class Watch:
    """One wait on one batch; `status` and `read` are the client's counters and records."""

    status: Callable[[], BatchStatus]
    read: Callable[[], Iterator[ResultRecord]]
    timeout_s: float | None = None
    on_stall: OnStall | None = None
    #: Told the counters of every poll (a progress bar); set by the command that waits.
    on_status: Callable[[BatchStatus], None] | None = None
    #: Told the last counters when the timeout passes, before WaitTimedOut: the client's check
    #: that the batch is known at all (UnknownId rather than a timeout for a typo).
    on_timeout: Callable[[BatchStatus], None] | None = None
    poll_s: float = POLL_S
    stall_s: float = STALL_S
    _started: float = field(default_factory=time.monotonic)

    def records(self) -> Iterator[ResultRecord]:
        """Each record once, as it lands, until none is pending; WaitTimedOut past the timeout."""
        seen: set[str] = set()
        for current in self.statuses():
            for record in self.read():
                key = record.job_id or f"?{record.input}"
                if key not in seen:
                    seen.add(key)
                    yield record
            if current.pending == 0:
                return

    def statuses(self) -> Iterator[BatchStatus]:
        """The batch's counters every poll, ending with the one that has nothing pending."""
        done, moved = -1, time.monotonic()
        while True:
            current = self.status()
            if self.on_status is not None:
                self.on_status(current)
            yield current
            if current.pending == 0:
                return
            now = time.monotonic()
            if current.done != done:
                done, moved = current.done, now
            elif now - moved >= self.stall_s and self.on_stall is not None:
                self.on_stall(current, now - moved)
                moved = now  # say it again only after another quiet stretch
            self._sleep_or_time_out(current)

    def _sleep_or_time_out(self, current: BatchStatus) -> None:
        if self.timeout_s is not None and time.monotonic() - self._started >= self.timeout_s:
            if self.on_timeout is not None:
                self.on_timeout(current)
            raise WaitTimedOut(
                f"batch {current.batch_id}: {describe(current)} after {self.timeout_s:g} s"
            )
        time.sleep(self.poll_s)
