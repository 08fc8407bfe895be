"""Heartbeats: keep this worker's unacknowledged messages invisible while it is alive.

Redis has no consumer leases: kombu parks a delivered message in the ``unacked`` hash and scores
it by delivery time in ``unacked_index``; any consumer puts messages older than the visibility
timeout back on their queue. A short timeout redelivers a crashed worker's messages soon, but
would also redeliver messages a live worker is still working on. So the worker re-scores the
messages it holds every few seconds: alive, they never look old; killed, they do within one
visibility timeout. A message held longer than ``max_hold_s`` (its own, where its time limit is
longer: a chunk holding recordings) is let go (a child stuck or lost).
"""

from __future__ import annotations

import threading
import time

import redis

from producer.state.keys import UNACKED_INDEX_KEY, UNACKED_KEY


class Heartbeat:
    """Re-scores the delivery tags this process holds so that they stay invisible."""

    def __init__(self, client: redis.Redis, max_hold_s: float) -> None:
        self._client = client
        self._max_hold_s = max_hold_s
        #: Delivery tag -> (when it was first held, how long it may be held).
        self._held: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def hold(self, delivery_tag: str, max_hold_s: float | None = None) -> None:
        """Start keeping a just-delivered message invisible, for `max_hold_s` at most (the
        worker's default when None or shorter)."""
        most = max(max_hold_s or 0.0, self._max_hold_s)
        with self._lock:
            self._held.setdefault(delivery_tag, (time.monotonic(), most))

    def release_all(self) -> int:
        """Stop holding every message (their connection is gone); how many were held."""
        with self._lock:
            released, self._held = len(self._held), {}
        return released

    def beat(self) -> int:
        """Refresh every held message still unacknowledged; forget the rest. Returns the count."""
        now = time.monotonic()
        with self._lock:
            tags = [tag for tag, (since, most) in self._held.items() if now - since < most]
            self._held = {tag: self._held[tag] for tag in tags}
        if not tags:
            return 0
        pipe = self._client.pipeline(transaction=False)
        for tag in tags:
            pipe.hexists(UNACKED_KEY, tag)
        alive = [tag for tag, exists in zip(tags, pipe.execute(), strict=True) if exists]
        if alive:  # XX: only re-score; an acknowledged tag must not come back.
            self._client.zadd(UNACKED_INDEX_KEY, {tag: time.time() for tag in alive}, xx=True)
        with self._lock:
            for tag in set(tags) - set(alive):
                self._held.pop(tag, None)
        return len(alive)
