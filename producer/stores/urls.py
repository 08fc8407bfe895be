"""Open the results store that a URL (``EARMARK_RESULTS_URL``) names.

=======================  =============================================================
URL                      store
=======================  =============================================================
``redis://…/db``         :class:`RedisStore`: a key per job, expiring after ``ttl_s``
``rediss://…/db``        the same over TLS
``sentinel://…``         the same on the master that Redis Sentinels name (``master_name``)
``s3://bucket/prefix``   :class:`S3Store`: per-job objects and per-chunk JSON-lines shards
``file:///abs/dir``      :class:`FileStore`: the S3 layout in a folder, written atomically
=======================  =============================================================
"""

from __future__ import annotations

from urllib.parse import SplitResult, unquote

import redis

from producer.defaults import RESULT_TTL_S
from producer.errors import ConfigError, InvalidReference
from producer.refs import split_url
from producer.state.redis import connect, is_sentinel_url
from producer.stores.aws import S3Client, make_s3_client
from producer.stores.base import ResultsStore
from producer.stores.files import FileStore
from producer.stores.redis import RedisStore
from producer.stores.s3 import S3Store


def open_store(
    url: str,
    *,
    ttl_s: int = RESULT_TTL_S,
    redis_client: redis.Redis | None = None,
    s3_client: S3Client | None = None,
) -> ResultsStore:
    """The results store for `url`; clients are built from the URL unless passed in."""
    if is_sentinel_url(url):  # several ;-separated URLs: connect() takes them apart
        return RedisStore(redis_client or connect(url), ttl_s=ttl_s)
    try:
        parts = split_url(url)
    except InvalidReference as e:
        raise ConfigError(f"the results store URL is malformed ({e})") from e
    scheme = parts.scheme.lower()
    if scheme in ("redis", "rediss"):
        return RedisStore(redis_client or connect(url), ttl_s=ttl_s)
    if scheme == "s3":
        if not parts.netloc:
            raise ConfigError("an S3 results URL looks like s3://bucket/prefix")
        return S3Store(s3_client or make_s3_client(), parts.netloc, unquote(parts.path))
    if scheme == "file":
        return FileStore(_folder(parts))
    # Only the scheme is echoed: the rest of a URL may hold a password.
    raise ConfigError(
        f"unsupported results store URL scheme {scheme!r}: "
        "use redis://, rediss://, sentinel://, s3://bucket/prefix or file:///absolute/dir"
    )


def _folder(parts: SplitResult) -> str:
    if parts.netloc not in ("", "localhost"):
        raise ConfigError("a file:// results URL names a local folder, not a host")
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise ConfigError("a file:// results URL needs an absolute path: file:///abs/dir")
    return path
