"""Fetching: the bytes behind a reference (local file, URL or S3 object), within limits."""

from __future__ import annotations

from worker.fetch.fetcher import Fetcher, FetcherProtocol
from worker.fetch.limits import DEFAULT_MAX_BYTES, FetchLimits

__all__ = ["DEFAULT_MAX_BYTES", "FetchLimits", "Fetcher", "FetcherProtocol"]
