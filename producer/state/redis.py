"""The one way earmark connects to Redis: timeouts, health checks and typed errors.

Every client earmark makes (ledger, booked messages, attempts, dead letters, heartbeats, the
sweeper, the Redis results store) comes from :func:`connect`, so a hung or vanished server
fails a call within seconds instead of blocking a worker's threads for ever.

A ``sentinel://`` URL names Redis Sentinels and the master they watch, in the form kombu's
Sentinel transport reads (``sentinel://s1:26379;sentinel://s2:26379/0?master_name=NAME``): the
client asks the sentinels for the current master on every new connection, so after a failover
it reconnects to the new one. The broker reads the same URL (:meth:`SentinelUrl.kombu_url`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlencode

import redis
from redis.connection import parse_url
from redis.sentinel import Sentinel

from producer.errors import ConfigError, InvalidReference, StoreError
from producer.refs import split_url

#: Seconds to wait for a connection, unless the URL's query says otherwise.
CONNECT_TIMEOUT_S = 5.0
#: Seconds to wait for a reply: a hung (SIGSTOPped) server fails the call, not the worker.
SOCKET_TIMEOUT_S = 30.0
#: Seconds a pooled connection may sit idle before it is checked with a PING on next use.
HEALTH_CHECK_S = 30
#: The port of a sentinel whose URL names none.
SENTINEL_PORT = 26379
#: The URL schemes :func:`connect` takes.
REDIS_SCHEMES = ("redis", "rediss", "unix", "sentinel")
_FORM = "sentinel://host:26379;sentinel://host2:26379/db?master_name=NAME"


def connect(url: str) -> redis.Redis:
    """A client of the Redis at `url` (``redis://``, ``rediss://``, ``unix://``, ``sentinel://``).

    Options in the URL's query (``socket_timeout=…``, TLS settings) win over these defaults.
    """
    defaults: dict[str, Any] = {
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": SOCKET_TIMEOUT_S,
        "health_check_interval": HEALTH_CHECK_S,
    }
    if not is_sentinel_url(url):
        return redis.Redis.from_url(url, **defaults)
    parsed = SentinelUrl.parse(url)
    # The sentinels answer a question each; they get the connect timeout for both waits.
    asking = {"socket_connect_timeout": CONNECT_TIMEOUT_S, "socket_timeout": CONNECT_TIMEOUT_S}
    sentinel = Sentinel(parsed.sentinels, sentinel_kwargs=asking)
    options = {**defaults, **parsed.master_options()}
    client: redis.Redis = sentinel.master_for(
        parsed.master_name, redis_class=redis.Redis, **options
    )
    return client


def is_redis_url(url: str) -> bool:
    """Whether `url` names a Redis that :func:`connect` can reach."""
    return url.partition(":")[0].lower() in REDIS_SCHEMES


def is_sentinel_url(url: str) -> bool:
    """Whether `url` names Redis Sentinels rather than one server."""
    return url.partition(":")[0].lower() == "sentinel"


@dataclass(frozen=True)
class SentinelUrl:
    """A ``sentinel://`` URL taken apart: the sentinels, the master's name, how to log in."""

    sentinels: tuple[tuple[str, int], ...]
    master_name: str
    #: ``user:password@`` as written (percent-encoded), or empty: the master's login.
    login: str = ""
    db: int = 0
    #: The query less ``master_name``: redis-py's connection options for the master.
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, url: str) -> SentinelUrl:
        """`url` taken apart; the login, database and query may follow any of its sentinels."""
        sentinels, login, db, options, master = [], "", "", [], ""
        for text in url.split(";"):
            parts = _sentinel_parts(text)
            sentinels.append((parts.hostname or "", parts.port or SENTINEL_PORT))
            login = login or parts.netloc.rpartition("@")[0]
            db = db or parts.path.strip("/")
            for key, value in parse_qsl(parts.query, keep_blank_values=True):
                if key == "master_name":
                    master = value
                else:
                    options.append((key, value))
        if not master:
            raise ConfigError(f"a Sentinel URL names its master: {_FORM}")
        if not db.isdigit() and db:
            raise ConfigError(f"a Sentinel URL's database is a number: {_FORM}")
        if any(key.startswith("ssl") for key, _ in options):
            raise ConfigError("TLS to a master that Redis Sentinel names is not supported")
        return cls(tuple(sentinels), master, login, int(db or 0), tuple(options))

    def master_options(self) -> dict[str, Any]:
        """redis-py's keyword arguments for the master: database, login, query options."""
        login = f"{self.login}@" if self.login else ""
        query = f"?{urlencode(self.options)}" if self.options else ""
        url = f"redis://{login}localhost/{self.db}{query}"
        options: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
        options.pop("host", None)
        return options

    def kombu_url(self) -> str:
        """The URL as kombu's Sentinel transport reads it: the login and database on the first.

        The query's options are earmark's clients' only: kombu would take them for arguments of
        its connection class, which has none of those names.
        """
        login = f"{self.login}@" if self.login else ""
        first, *rest = (f"sentinel://{_host(h)}:{p}" for h, p in self.sentinels)
        return ";".join([f"{first.replace('://', '://' + login, 1)}/{self.db}", *rest])


@contextmanager
def redis_errors(action: str) -> Iterator[None]:
    """Turn any Redis failure during `action` into a (retryable) :class:`StoreError`."""
    try:
        yield
    except redis.OutOfMemoryError as e:  # noeviction at maxmemory: writes refused, nothing lost
        raise StoreError(
            f"Redis: {action} failed: the Redis is full (used memory past maxmemory, and it evicts"
            " nothing): free memory (earmark's results expire after EARMARK_RESULT_TTL_S) or"
            " raise maxmemory, then try again"
        ) from e
    except redis.RedisError as e:
        # redis-py's messages name the host and port, never the password.
        raise StoreError(f"Redis: {action} failed: {type(e).__name__}: {e}") from e


def as_text(value: bytes | str) -> str:
    """A Redis reply as text."""
    # Callers may hand in a client made with or without decode_responses.
    return value.decode() if isinstance(value, bytes) else value


def _sentinel_parts(text: str) -> SplitResult:
    # Only the form is echoed, never the text: it may hold a password.
    try:
        parts = split_url(text.strip())
    except InvalidReference as e:
        raise ConfigError(f"a Sentinel URL is malformed ({e}): {_FORM}") from e
    if parts.scheme.lower() != "sentinel" or not parts.hostname:
        raise ConfigError(f"a Sentinel URL lists sentinel://host:port URLs: {_FORM}")
    return parts


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
