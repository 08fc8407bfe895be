"""The S3 results store: the object layout of :mod:`producer.stores.base` under a bucket prefix.

The boto3 client comes from the caller (or from :func:`producer.stores.aws.make_s3_client` at
the edge). Every S3 failure, throttling and 5xx included, becomes a retryable
:class:`StoreError` whose message names the object and the S3 error code, never a credential.
Objects do not expire here: give the bucket a lifecycle rule if results should."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from producer.errors import StoreError
from producer.stores.aws import S3Client
from producer.stores.base import ObjectStore

#: S3 error codes that mean "no such object" on a GET.
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
#: Objects per ListObjectsV2 page, S3's own maximum.
DEFAULT_PAGE_SIZE = 1000
#: Parallel GETs when reading a batch: under botocore's default pool of 10 connections, so a
#: client made elsewhere never has to discard connections.
_READ_CONCURRENCY = 8


class S3Store(ObjectStore):
    """Records as objects under ``s3://bucket/prefix``."""

    read_concurrency = _READ_CONCURRENCY

    def __init__(
        self, client: S3Client, bucket: str, prefix: str = "", *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> None:
        if not bucket:
            raise ValueError("an S3 results store needs a bucket")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.page_size = page_size
        self._root = f"{self.prefix}/" if self.prefix else ""

    def _put(self, key: str, data: bytes) -> None:
        kind = "application/x-ndjson" if key.endswith(".jsonl") else "application/json"
        with self._errors("PutObject", key):
            self.client.put_object(
                Bucket=self.bucket, Key=self._root + key, Body=data, ContentType=kind
            )

    def _get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError  # type: ignore[import-untyped,unused-ignore]

        with self._errors("GetObject", key):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=self._root + key)
            except ClientError as e:
                if str(e.response.get("Error", {}).get("Code", "")) in _MISSING:
                    return None
                raise
            body = response["Body"]
            try:
                data: bytes = body.read()
            finally:
                body.close()
            return data

    def _list(self, folder: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        with self._errors("ListObjectsV2", folder):
            for page in paginator.paginate(
                Bucket=self.bucket,
                Prefix=self._root + folder,
                Delimiter="/",  # direct children only: a batch's shards are listed separately
                PaginationConfig={"PageSize": self.page_size},
            ):
                for item in page.get("Contents", ()):
                    yield str(item["Key"])[len(self._root) :]

    @contextmanager
    def _errors(self, operation: str, key: str) -> Iterator[None]:
        from botocore.exceptions import (  # type: ignore[import-untyped,unused-ignore]
            BotoCoreError,
            ClientError,
        )

        where = f"s3://{self.bucket}/{self._root}{key}"
        try:
            yield
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code") or "error"
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
            raise StoreError(f"S3 {operation} {where} failed: {code} (HTTP {status})") from e
        except (BotoCoreError, OSError) as e:  # refused, reset, timed out, no credentials
            raise StoreError(f"S3 {operation} {where} failed: {type(e).__name__}") from e
