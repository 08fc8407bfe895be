"""The Redis results store: one key per job with a TTL, and a per-batch index set to list them.

Keys (`producer.state.keys`; every one expires ``ttl_s`` after its last write)::

    earmark:result:{job_id}           the record's JSON
    earmark:result-index:{batch_id}   set of the batch's job ids, for iter_batch
    earmark:timeline:{job_id}         the job's timeline, JSON lines (producer/timelines.py)

Redis cannot list keys by prefix without scanning the whole keyspace, hence the index set; and it
has no shards, so a chunk is written as one pipelined round trip of per-job keys.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import redis

from producer.defaults import RESULT_TTL_S
from producer.ids import check_batch_id, record_ids, split_job_id
from producer.records import ResultRecord
from producer.state.keys import result_index_key, result_key, timeline_key
from producer.state.redis import as_text, redis_errors
from producer.stores.base import ResultsStore, SeenIndices, check_chunk_records, pages, read_record
from producer.timelines import Timeline

#: Job ids per SSCAN step and per MGET while streaming a batch.
_PAGE = 500


class RedisStore(ResultsStore):
    """Records in Redis, one key per job, expiring after `ttl_s` seconds."""

    def __init__(self, client: redis.Redis, *, ttl_s: int = RESULT_TTL_S) -> None:
        if ttl_s < 1:
            raise ValueError(f"ttl_s must be at least 1 second, not {ttl_s}")
        self.client = client
        self.ttl_s = ttl_s

    def put(self, record: ResultRecord) -> None:
        """Write one job's record and index it, in one round trip."""
        self._write([record])

    def put_chunk(self, batch_id: str, chunk_id: str, records: Sequence[ResultRecord]) -> None:
        """Write a chunk's records as per-job keys, pipelined in one round trip."""
        check_chunk_records(batch_id, chunk_id, records)
        self._write(records)

    def get(self, job_id: str) -> ResultRecord | None:
        """The job's record, or None when it is missing or expired."""
        split_job_id(job_id)
        key = result_key(job_id)
        with redis_errors(f"GET {key}"):
            data = self.client.get(key)
        return None if data is None else read_record(as_text(data), key, job_id)

    def iter_batch(self, batch_id: str) -> Iterator[ResultRecord]:
        """SSCAN the batch's index and MGET its records a page at a time."""
        key = result_index_key(check_batch_id(batch_id))
        seen = SeenIndices()
        with redis_errors(f"reading {key}"):
            for page in pages(self.client.sscan_iter(key, count=_PAGE), _PAGE):
                # SSCAN may return a member twice (when the set is rehashed mid-scan).
                job_ids = [job for job in map(as_text, page) if seen.add(split_job_id(job)[1])]
                if not job_ids:
                    continue
                values = self.client.mget([result_key(job) for job in job_ids])
                for job_id, data in zip(job_ids, values, strict=True):
                    if data is not None:  # None: expired while its index entry lived on
                        yield read_record(as_text(data), result_key(job_id), job_id)

    def put_timelines(self, timelines: Sequence[tuple[str, Timeline]]) -> None:
        """Write every timeline under its own key, expiring with the records, in one round trip."""
        if not timelines:
            return
        pipe = self.client.pipeline(transaction=False)
        for job_id, timeline in timelines:
            split_job_id(job_id)
            pipe.set(timeline_key(job_id), timeline.to_jsonl(), ex=self.ttl_s)
        with redis_errors(f"writing {len(timelines)} timelines"):
            pipe.execute()

    def get_timeline(self, job_id: str) -> Timeline | None:
        """The job's timeline, or None when it has none or it expired."""
        split_job_id(job_id)
        key = timeline_key(job_id)
        with redis_errors(f"GET {key}"):
            data = self.client.get(key)
        return None if data is None else Timeline.from_jsonl(as_text(data), key)

    def _write(self, records: Sequence[ResultRecord]) -> None:
        batched = [(record, record_ids(record)[0]) for record in records]  # checks every id first
        if not batched:
            return
        pipe = self.client.pipeline(transaction=False)
        for record, batch_id in batched:
            pipe.set(result_key(str(record.job_id)), record.to_json(), ex=self.ttl_s)
            pipe.sadd(result_index_key(batch_id), str(record.job_id))
            if record.has_timeline:
                # Written just before, its lifetime restarts with the record's: they expire
                # together, and a record never outlives the timeline it names.
                pipe.expire(timeline_key(str(record.job_id)), self.ttl_s)
        for batch_id in {batch_id for _, batch_id in batched}:
            pipe.expire(result_index_key(batch_id), self.ttl_s)
        with redis_errors(f"writing {len(batched)} results"):
            pipe.execute()
