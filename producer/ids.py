"""Batch and job ids: a job is ``{batch_id}:{index}``, checked wherever an id becomes a key.

Ids end up in Redis keys, S3 keys and file names, so they are held to a narrow alphabet:
a batch id (and a chunk id) is 1-128 of ``A-Z a-z 0-9 _ . -`` but never ``.`` or ``..`` (they
would walk out of a results folder); an index is a non-negative integer written without leading
zeros, so that every job has exactly one spelling.
"""

from __future__ import annotations

import re
import uuid

from producer.errors import InvalidId
from producer.records import ResultRecord

#: A batch or chunk id; it becomes one path segment of a results key.
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
#: A job index as written in a job id: at most 18 digits, so that it fits Redis' 64-bit counters.
_INDEX = re.compile(r"0|[1-9][0-9]{0,17}")


def new_batch_id() -> str:
    """A fresh random batch id (32 hex digits)."""
    return uuid.uuid4().hex


def check_batch_id(batch_id: object) -> str:
    """`batch_id` itself when it is a valid batch id; :class:`InvalidId` otherwise."""
    return _check_name("batch id", batch_id)


def check_chunk_id(chunk_id: object) -> str:
    """`chunk_id` itself when it is a valid chunk id (same alphabet as a batch id)."""
    return _check_name("chunk id", chunk_id)


def make_job_id(batch_id: str, index: int) -> str:
    """The id of job number `index` of `batch_id`."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise InvalidId(f"a job index is an integer >= 0, not {index!r}")
    return f"{check_batch_id(batch_id)}:{index}"


def split_job_id(job_id: str) -> tuple[str, int]:
    """A job id's batch id and index, split at the last ``:``; :class:`InvalidId` if malformed."""
    if not isinstance(job_id, str):
        raise InvalidId(f"a job id is a string, not {type(job_id).__name__}")
    batch_id, colon, index = job_id.rpartition(":")
    if not colon or not _INDEX.fullmatch(index):
        raise InvalidId(f"invalid job id {job_id[:160]!r}: expected '{{batch_id}}:{{index}}'")
    return check_batch_id(batch_id), int(index)


def batch_of(job_id: str) -> str:
    """The batch a job id belongs to."""
    return split_job_id(job_id)[0]


def record_ids(record: ResultRecord) -> tuple[str, int]:
    """A record's batch id and job index, checked against each other; InvalidId if unusable."""
    if record.job_id is None:
        raise InvalidId("a stored record needs a job_id")
    batch_id, index = split_job_id(record.job_id)
    if record.batch_id is not None and record.batch_id != batch_id:
        raise InvalidId(
            f"record {record.job_id!r} has batch_id {record.batch_id!r}, not its job id's batch"
        )
    return batch_id, index


def _check_name(kind: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value) or value in (".", ".."):
        shown = value[:160] if isinstance(value, str) else type(value).__name__
        raise InvalidId(f"invalid {kind} {shown!r}: use 1-128 of A-Z a-z 0-9 _ . -")
    return value
