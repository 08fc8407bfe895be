"""A task run every few seconds on a daemon thread of the worker's main process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

from producer.errors import StoreError

log = logging.getLogger(__name__)


class Periodic:
    """Calls ``action`` every ``interval_s`` until stopped; a Redis failure waits for the next."""

    def __init__(self, name: str, interval_s: float, action: Callable[[], object]) -> None:
        self.name = name
        self.interval_s = interval_s
        self._action = action
        self._stop = threading.Event()

    def start(self) -> threading.Thread:
        """Start calling on a daemon thread."""
        thread = threading.Thread(target=self._run, name=f"earmark-{self.name}", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Stop after the call in progress, if any."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._action()
            except (redis.RedisError, StoreError) as e:  # the broker may be restarting
                log.warning("earmark: %s failed: %s", self.name, e)
            except Exception:  # a bug must not stop the thread for the worker's whole life
                log.exception("earmark: %s failed", self.name)
