"""Retries: bounded, exponential backoff with jitter, for retryable errors only."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from producer import defaults
from producer.errors import RetryableError
from producer.settings import Settings

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
        clock: Callable[[], float] = time.monotonic,
    ) -> T:
        """Run ``action``; retry it on :class:`RetryableError`, re-raising the last one.

        With a `deadline` (a `clock` value, ``time.monotonic()`` unless given), no retry is
        scheduled to start after it: the last error is raised instead of sleeping past it.
        """
        for retry in range(self.attempts - 1):
            try:
                return action()
            except RetryableError:
                pause = self.delay(retry)
                if deadline is not None and clock() + pause >= deadline:
                    raise
                sleep(pause)
        return action()


#: Longest pause between two tries of a fetch, seconds.
FETCH_RETRY_CAP_S = 8.0
#: A fetch's retries by default (EARMARK_FETCH_ATTEMPTS, EARMARK_FETCH_RETRY_BASE_S).
DEFAULT_RETRY = RetryPolicy(
    defaults.FETCH_ATTEMPTS, defaults.FETCH_RETRY_BASE_S, cap_s=FETCH_RETRY_CAP_S
)
#: Ten tries over one and a half to three minutes: a results store or Redis that restarts must
#: not cost the records of the batch in hand (its messages are acknowledged after it).
STORE_RETRY = RetryPolicy(attempts=10, base_s=0.5, cap_s=30.0)


def fetch_retry(settings: Settings) -> RetryPolicy:
    """A fetch's retries as `settings` give them (EARMARK_FETCH_ATTEMPTS, _RETRY_BASE_S)."""
    return RetryPolicy(
        settings.fetch_attempts, settings.fetch_retry_base_s, cap_s=FETCH_RETRY_CAP_S
    )
