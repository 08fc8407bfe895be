"""The one way earmark connects to Redis: timeouts, health checks and typed errors.

Every client earmark makes (ledger, booked messages, attempts, dead letters, heartbeats, the
sweeper, the Redis results store) comes from :func:`connect`, so a hung or vanished server
fails a call within seconds instead of blocking a worker's threads for ever.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from producer.errors import StoreError

#: Seconds to wait for a connection, unless the URL's query says otherwise.
CONNECT_TIMEOUT_S = 5.0
#: Seconds to wait for a reply: a hung (SIGSTOPped) server fails the call, not the worker.
SOCKET_TIMEOUT_S = 30.0
#: Seconds a pooled connection may sit idle before it is checked with a PING on next use.
HEALTH_CHECK_S = 30


def connect(url: str) -> redis.Redis:
    """A client of the Redis at `url` (``redis://``, ``rediss://``, ``unix://``) with timeouts.

    Options in the URL's query (``socket_timeout=…``, TLS settings) win over these defaults.
    """
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=HEALTH_CHECK_S,
    )


@contextmanager
def redis_errors(action: str) -> Iterator[None]:
    """Turn any Redis failure during `action` into a (retryable) :class:`StoreError`."""
    try:
        yield
    except redis.RedisError as e:
        # redis-py's messages name the host and port, never the password.
        raise StoreError(f"Redis: {action} failed: {type(e).__name__}: {e}") from e


def as_text(value: bytes | str) -> str:
    """A Redis reply as text."""
    # Callers may hand in a client made with or without decode_responses.
    return value.decode() if isinstance(value, bytes) else value
