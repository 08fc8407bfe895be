"""Retries: bounded, exponential backoff with jitter, for retryable errors only."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from producer.errors import RetryableError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``attempts`` tries; before try n+1 sleep between half and all of
    min(cap_s, base_s * 2**n) seconds ("equal jitter": spread out, yet a known least total)."""

    attempts: int = 4
    base_s: float = 0.5
    cap_s: float = 8.0

    def delay(self, retry: int, draw: Callable[[], float] = random.random) -> float:
        """Seconds to sleep before retry number ``retry`` (0-based)."""
        ceiling = min(self.cap_s, self.base_s * 2**retry)
        return float(ceiling * (0.5 + 0.5 * draw()))

    def call(
        self,
        action: Callable[[], T],
        sleep: Callable[[float], None] = time.sleep,
        *,
        deadline: float | None = None,
    ) -> T:
        """Run ``action``; retry it on :class:`RetryableError`, re-raising the last one.

        With a `deadline` (a ``time.monotonic()`` value), no try starts after it: the last error
        is raised instead of sleeping past it.
        """
        for retry in range(self.attempts - 1):
            try:
                return action()
            except RetryableError:
                pause = self.delay(retry)
                if deadline is not None and time.monotonic() + pause >= deadline:
                    raise
                sleep(pause)
        return action()


#: Six tries over 11.5 to 23 s: rides out a server restarting for ten seconds.
DEFAULT_RETRY = RetryPolicy(attempts=6, base_s=1.0, cap_s=8.0)
#: Ten tries over one and a half to three minutes: a results store or Redis that restarts must
#: not cost the records of the batch in hand (its messages are acknowledged after it).
STORE_RETRY = RetryPolicy(attempts=10, base_s=0.5, cap_s=30.0)
