"""Fetching: the bytes behind a reference (local file, URL or S3 object), within limits."""

from __future__ import annotations

from worker.fetch.fetcher import Fetcher, FetcherProtocol
from worker.fetch.limits import FetchLimits

__all__ = ["FetchLimits", "Fetcher", "FetcherProtocol"]
