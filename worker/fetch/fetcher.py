"""The fetcher: the bytes behind a parsed reference, with every limit enforced at the edge.

Local paths must resolve (symlinks and ``..`` included) under the configured roots
(`worker.fetch.local`); URLs go through `worker.fetch.http` (address policy, redirects, byte
cap); S3 objects through `worker.fetch.s3`. Raw inputs (bytes, file objects, arrays) never come
here: the pipeline handles them.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Protocol

import urllib3

from producer.errors import InvalidReference
from producer.refs import AudioRef, LocalRef, S3Ref, UrlRef
from producer.stores.aws import S3Client, make_s3_client
from worker.fetch.http import fetch_url, make_http_pool, stream_url
from worker.fetch.limits import MAX_WINDOWED_BYTES_SETTING, FetchLimits
from worker.fetch.local import read_local, stream_local
from worker.fetch.s3 import fetch_s3, stream_s3


class FetcherProtocol(Protocol):
    """Anything that turns a parsed reference into its bytes."""

    def fetch(self, ref: AudioRef, deadline: float | None = None) -> bytes:
        """The bytes behind `ref` by `deadline` (``time.monotonic()``); else an earmark error."""
        ...

    def stream(self, ref: AudioRef, max_bytes: int) -> Iterator[bytes]:
        """The bytes behind `ref` a chunk at a time, at most `max_bytes`."""
        ...


class Fetcher:
    """Fetch local files, URLs and S3 objects under one set of limits."""

    def __init__(
        self,
        limits: FetchLimits,
        http: urllib3.PoolManager | None = None,
        s3: S3Client | Callable[[], S3Client] | None = None,
    ) -> None:
        self.limits = limits
        self._roots = tuple(os.path.realpath(root) for root in limits.local_roots)
        self._http = http if http is not None else make_http_pool()
        # A client, a factory for one, or None for boto3 from the usual AWS environment; boto3
        # is imported and the client built on the first S3 reference only.
        self._s3_client: S3Client | None = s3 if isinstance(s3, S3Client) else None
        self._s3_factory = s3 if callable(s3) and self._s3_client is None else None
        self._s3_lock = threading.Lock()

    def fetch(self, ref: AudioRef, deadline: float | None = None) -> bytes:
        """The bytes behind `ref`, at most ``limits.max_bytes`` of them, by `deadline` (a
        ``time.monotonic()`` value; ``limits.total_timeout_s`` from now when None)."""
        if isinstance(ref, LocalRef):
            return read_local(ref.path, self._roots, self.limits.max_bytes)
        if isinstance(ref, UrlRef):
            return fetch_url(self._http, ref.url, self.limits, deadline)
        if isinstance(ref, S3Ref):
            return fetch_s3(self._s3(), ref, self.limits.max_bytes)
        raise InvalidReference(f"not a parsed reference: {type(ref).__name__}")

    def stream(self, ref: AudioRef, max_bytes: int) -> Iterator[bytes]:
        """The bytes behind `ref` a chunk at a time, at most `max_bytes` of them (the cap
        ``EARMARK_MAX_WINDOWED_BYTES`` sets): no total time, each read bounded by the read
        timeout. Nothing is read before the first chunk is asked for; close the stream to let
        go of the file or connection early."""
        setting = MAX_WINDOWED_BYTES_SETTING
        if isinstance(ref, LocalRef):
            return stream_local(ref.path, self._roots, max_bytes, setting)
        if isinstance(ref, UrlRef):
            limits = replace(self.limits, max_bytes=max_bytes)
            return stream_url(self._http, ref.url, limits, math.inf, setting)
        if isinstance(ref, S3Ref):
            return stream_s3(self._s3(), ref, max_bytes, setting)
        raise InvalidReference(f"not a parsed reference: {type(ref).__name__}")

    def _s3(self) -> S3Client:
        with self._s3_lock:  # boto3 client creation is not thread-safe
            if self._s3_client is None:
                if self._s3_factory is not None:
                    self._s3_client = self._s3_factory()
                else:
                    limits = self.limits
                    self._s3_client = make_s3_client(
                        connect_timeout_s=limits.connect_timeout_s,
                        read_timeout_s=limits.read_timeout_s,
                    )
            return self._s3_client
