"""Results stores: Redis, S3 and a folder behind one small base class (see ``base``)."""

from __future__ import annotations

from producer.stores.aws import S3Client, make_s3_client
from producer.stores.base import ObjectStore, ResultsStore
from producer.stores.files import FileStore
from producer.stores.redis import RedisStore
from producer.stores.s3 import S3Store
from producer.stores.urls import open_store

__all__ = [
    "FileStore",
    "ObjectStore",
    "RedisStore",
    "ResultsStore",
    "S3Client",
    "S3Store",
    "make_s3_client",
    "open_store",
]
