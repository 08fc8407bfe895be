"""The results store's base classes: the API every store keeps, and the object layout.

:class:`ResultsStore` is what workers write to and producers read from. :class:`ObjectStore`
holds the layout that S3 and a folder share, so that their adapters implement only ``_put``,
``_get`` and ``_list``::

    {batch_id}/{index}.json              one record, written by put()
    {batch_id}/chunks/{chunk_id}.jsonl   one record per line, written by put_chunk()
    {batch_id}/timelines/{index}.jsonl   one job's timeline (producer/timelines.py)

A bulk batch of a million references is then a few thousand shards rather than a million
objects. Reading a batch yields each job once, and a per-job object wins over a shard line.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from pydantic import ValidationError

from producer.errors import UnreadableRecord
from producer.ids import check_batch_id, check_chunk_id, record_ids, split_job_id
from producer.records import ErrorInfo, ResultRecord
from producer.timelines import Timeline

T = TypeVar("T")

#: Job indices below this are remembered in a bitmap (1 bit each, 8 MiB at most); a batch's
#: indices are dense from 0, so a million jobs cost 125 KiB instead of a set of a million ints.
_BITMAP_LIMIT = 1 << 26
#: A per-job object's name inside its batch folder.
_JOB_OBJECT = re.compile(r"(0|[1-9][0-9]*)\.json")


class ResultsStore(ABC):
    """Where workers write one JSON record per job, and producers read them back."""

    @abstractmethod
    def put(self, record: ResultRecord) -> None:
        """Write one job's record; writing the same job again replaces it (last write wins)."""

    @abstractmethod
    def put_chunk(self, batch_id: str, chunk_id: str, records: Sequence[ResultRecord]) -> None:
        """Write the records of one bulk chunk of `batch_id` in one go."""

    @abstractmethod
    def get(self, job_id: str) -> ResultRecord | None:
        """One job's record, or None when there is none (yet)."""

    @abstractmethod
    def iter_batch(self, batch_id: str) -> Iterator[ResultRecord]:
        """Every record of a batch, each job once, streamed in no particular order."""

    @abstractmethod
    def put_timelines(self, timelines: Sequence[tuple[str, Timeline]]) -> None:
        """Write each (job id, timeline), each whole or not at all, before the jobs' records."""

    @abstractmethod
    def get_timeline(self, job_id: str) -> Timeline | None:
        """One job's timeline, or None when it has none (it asked for none, or not yet)."""


class ObjectStore(ResultsStore):
    """Records as objects under keys; adapters implement only ``_put``, ``_get``, ``_list``."""

    #: Reads in flight at once while streaming a batch's per-job objects; 1 reads them in turn.
    read_concurrency = 1

    @abstractmethod
    def _put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, replacing what was there, all or nothing."""

    @abstractmethod
    def _get(self, key: str) -> bytes | None:
        """The data under `key`, or None when there is no such key."""

    @abstractmethod
    def _list(self, folder: str) -> Iterator[str]:
        """The keys directly inside `folder` (which ends with ``/``), streamed."""

    def probe(self) -> None:
        """Write a hidden object, never read as a record: StoreError when the store refuses
        writes (`earmark doctor`)."""
        self._put(".earmark-doctor", b"written by earmark doctor; safe to delete\n")

    def put(self, record: ResultRecord) -> None:
        """Write one job's record as its own object."""
        batch_id, index = record_ids(record)
        self._put(f"{batch_id}/{index}.json", record.to_json().encode())

    def put_chunk(self, batch_id: str, chunk_id: str, records: Sequence[ResultRecord]) -> None:
        """Write a chunk's records as one JSON-lines shard (nothing for an empty chunk)."""
        check_chunk_records(batch_id, chunk_id, records)
        if records:
            lines = "".join(record.to_json() + "\n" for record in records)
            self._put(f"{batch_id}/chunks/{chunk_id}.jsonl", lines.encode())

    def get(self, job_id: str) -> ResultRecord | None:
        """The job's own object, else its line in the chunk shard that holds it."""
        batch_id, index = split_job_id(job_id)
        key = f"{batch_id}/{index}.json"
        data = self._get(key)
        if data is not None:
            return read_record(data, key, job_id)
        return self._find_in_shards(batch_id, index)

    def put_timelines(self, timelines: Sequence[tuple[str, Timeline]]) -> None:
        """Write each timeline as its own object beside the batch's records."""
        for job_id, timeline in timelines:
            self._put(_timeline_object(job_id), timeline.to_jsonl())

    def get_timeline(self, job_id: str) -> Timeline | None:
        """The job's timeline object, read back."""
        key = _timeline_object(job_id)
        data = self._get(key)
        return None if data is None else Timeline.from_jsonl(data, key)

    def _find_in_shards(self, batch_id: str, index: int) -> ResultRecord | None:
        # Producers name a chunk after its first job index, so the shard holding a job is the one
        # with the largest such name not above it; other names are searched after it.
        folder = f"{batch_id}/chunks/"
        shards = [key for key in self._list(folder) if key.endswith(".jsonl")]
        shards.sort(key=lambda key: _shard_distance(key[len(folder) : -len(".jsonl")], index))
        for key in shards:
            for line in (self._get(key) or b"").splitlines():
                if line.strip():
                    record = read_record(line, key, batch_id=batch_id)
                    if record.job_id is not None and record_ids(record)[1] == index:
                        return record
        return None

    def iter_batch(self, batch_id: str) -> Iterator[ResultRecord]:
        """Per-job objects first, then shard lines of jobs not seen yet."""
        folder = f"{check_batch_id(batch_id)}/"
        seen = SeenIndices()
        keys = (key for key in self._list(folder) if _JOB_OBJECT.fullmatch(key[len(folder) :]))
        for key, data in self._read_many(keys):
            if data is not None:  # None: deleted since it was listed
                index = int(key[len(folder) : -len(".json")])
                seen.add(index)
                yield read_record(data, key, f"{batch_id}:{index}")
        shards = (key for key in self._list(folder + "chunks/") if key.endswith(".jsonl"))
        for key, data in self._read_many(shards):
            for line in (data or b"").splitlines():
                if line.strip():
                    record = read_record(line, key, batch_id=batch_id)
                    if record.job_id is None or seen.add(record_ids(record)[1]):
                        yield record

    def _read_many(self, keys: Iterator[str]) -> Iterator[tuple[str, bytes | None]]:
        if self.read_concurrency <= 1:
            yield from ((key, self._get(key)) for key in keys)
            return
        with ThreadPoolExecutor(self.read_concurrency) as pool:
            # A few pages ahead of the consumer at most: memory stays flat on huge batches.
            for page in pages(keys, self.read_concurrency * 4):
                yield from zip(page, pool.map(self._get, page), strict=True)


def _timeline_object(job_id: str) -> str:
    batch_id, index = split_job_id(job_id)
    return f"{batch_id}/timelines/{index}.jsonl"


def _shard_distance(chunk_id: str, index: int) -> float:
    start = int(chunk_id) if chunk_id.isdigit() else -1
    return index - start if 0 <= start <= index else float("inf")


class SeenIndices:
    """Job indices already yielded: a bitmap for the dense low range, a set beyond it."""

    def __init__(self) -> None:
        self._bits = bytearray()
        self._far: set[int] = set()

    def add(self, index: int) -> bool:
        """Remember `index`; True when it had not been seen before."""
        if index >= _BITMAP_LIMIT:
            new = index not in self._far
            self._far.add(index)
            return new
        byte, mask = index >> 3, 1 << (index & 7)
        if byte >= len(self._bits):
            self._bits.extend(bytes(max(byte + 1, 2 * len(self._bits)) - len(self._bits)))
        if self._bits[byte] & mask:
            return False
        self._bits[byte] |= mask
        return True


def check_chunk_records(batch_id: str, chunk_id: str, records: Sequence[ResultRecord]) -> None:
    """ValueError unless both ids are valid and every record belongs to `batch_id`."""
    check_batch_id(batch_id)
    check_chunk_id(chunk_id)
    for record in records:
        if record_ids(record)[0] != batch_id:
            raise ValueError(f"record {record.job_id!r} is not of batch {batch_id!r}")


def read_record(
    data: bytes | str, where: str, job_id: str | None = None, batch_id: str | None = None
) -> ResultRecord:
    """A stored record parsed back; when it does not parse, an ``unreadable_record`` error
    record in its place (naming `where`), so that one bad record never hides its batch."""
    try:
        return ResultRecord.model_validate_json(data)
    except ValidationError:
        error = UnreadableRecord(f"results store: unreadable record at {where}")
        batch_id = batch_id or (None if job_id is None else job_id.rpartition(":")[0])
        return ResultRecord(
            job_id=job_id,
            batch_id=batch_id,
            input="",
            status="error",
            error=ErrorInfo.from_exception(error),
        )


def pages(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of `size` (the last may be shorter), pulled lazily."""
    page: list[T] = []
    for item in items:
        page.append(item)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page
