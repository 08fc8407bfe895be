"""SIGINT and SIGTERM during an enqueue: stop where the jobs sent are known exactly.

A group of jobs is reserved in the ledger, booked and published as one step
(`producer.client.Client.submit_many`); a signal that cut it part-way would leave ids reserved
that no message carries (a batch pending for ever) and a count nobody printed. So a signal
while the next references are being read (a manifest, a folder walk, a prefix listing) stops
at once, one during a group stops right after it, and a second signal stops at once whatever
is under way. The command then prints ``{"batch_id", "jobs"}`` for what it sent and exits
128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import signal
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")

#: The signals an enqueue stops on.
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A command stopped by `signum`; it exits 128 + `signum` (`producer.cli.root`).

    A ``BaseException`` as ``KeyboardInterrupt`` is, but not one: Typer turns that into a silent
    exit 130 whatever the signal, before the root command could say anything.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class SignalGuard:
    """While entered, SIGINT and SIGTERM stop the enqueue between groups (module docstring)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._reading = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def items(self, items: Iterable[T]) -> Iterator[T]:
        """`items`, a signal stopping at once while the next one is read."""
        iterator = iter(items)
        while True:
            with self.reading():
                try:
                    item = next(iterator)
                except StopIteration:
                    return
            yield item

    @contextmanager
    def reading(self) -> Iterator[None]:
        """While inside, nothing is being sent: a signal stops at once (after one that came
        before, at entry)."""
        self.check()
        self._reading = True
        try:
            yield
        finally:
            self._reading = False

    def check(self) -> None:
        """:class:`Interrupted` if a signal came: called once a group is sent."""
        if self.signum is not None:
            raise Interrupted(self.signum)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        stop_now = self._reading or self.signum is not None
        self.signum = signum
        if stop_now:
            raise Interrupted(signum)
