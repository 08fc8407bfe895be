"""The one S3 client factory: results stores, S3 fetches and prefix listings all come here.

Credentials, region and ``AWS_ENDPOINT_URL`` come from the usual AWS environment, never from
earmark's settings. boto3 is imported on the first call, so nothing pays for it until S3 is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

#: Tries botocore's standard retry mode makes of one call (SlowDown, 5xx, resets) before it
#: raises; earmark's own retry policies (worker/retry.py) wrap whole fetches and writes.
S3_MAX_ATTEMPTS = 3
#: Seconds to wait for a connection to S3.
S3_CONNECT_TIMEOUT_S = 5.0
#: Seconds to wait for any one read from S3.
S3_READ_TIMEOUT_S = 60.0


@runtime_checkable
class S3Client(Protocol):
    """The calls of a boto3 S3 client that earmark makes."""

    def put_object(self, **kwargs: Any) -> Mapping[str, Any]:
        """boto3's ``PutObject``."""
        ...

    def get_object(self, **kwargs: Any) -> Mapping[str, Any]:
        """boto3's ``GetObject``."""
        ...

    def get_paginator(self, operation_name: str) -> Any:
        """boto3's paginators; earmark uses ``list_objects_v2``."""
        ...


def make_s3_client(
    *,
    connect_timeout_s: float = S3_CONNECT_TIMEOUT_S,
    read_timeout_s: float = S3_READ_TIMEOUT_S,
) -> S3Client:
    """A boto3 S3 client from the usual AWS environment (``AWS_ENDPOINT_URL`` included)."""
    import boto3  # type: ignore[import-untyped,unused-ignore]
    from botocore.config import Config  # type: ignore[import-untyped,unused-ignore]

    config = Config(
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
        retries={"mode": "standard", "max_attempts": S3_MAX_ATTEMPTS},
    )
    client: S3Client = boto3.client("s3", config=config)
    return client
