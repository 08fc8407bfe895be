"""The batch ledger: per-batch counters in Redis, so that a batch's status is one read.

Keys (both expire ``ttl_s`` after their last write)::

    earmark:batch:{batch_id}            hash: total (ids reserved), done, failed
    earmark:batch:{batch_id}:finished   set of finished job ids: finishing is idempotent

A job's record may be written twice (a redelivered task, a retried chunk); the set makes sure it
is counted once, and a Lua script makes the check and the count one atomic round trip.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis
from pydantic import BaseModel, ConfigDict

from producer.defaults import RESULT_TTL_S
from producer.ids import check_batch_id, record_ids, split_job_id
from producer.records import ResultRecord
from producer.state.keys import batch_key, finished_key, outstanding_key
from producer.state.redis import redis_errors

#: Lua, atomic on the server. KEYS: (hash, finished set, outstanding messages) per batch; ARGV: TTL
#: in seconds, then (batch slot, job id, failed 0/1) triples. Returns how many jobs were newly
#: finished. A finished interactive job's message is unbooked in the same step.
_FINISH = """
local ttl = tonumber(ARGV[1])
local done, failed, new = {}, {}, 0
for i = 2, #ARGV, 3 do
  local slot = tonumber(ARGV[i])
  redis.call('HDEL', KEYS[3 * slot], ARGV[i + 1])
  if redis.call('SADD', KEYS[3 * slot - 1], ARGV[i + 1]) == 1 then
    done[slot] = (done[slot] or 0) + 1
    if ARGV[i + 2] == '1' then failed[slot] = (failed[slot] or 0) + 1 end
    new = new + 1
  end
end
for slot = 1, #KEYS / 3 do
  local hash = KEYS[3 * slot - 2]
  if done[slot] then redis.call('HINCRBY', hash, 'done', done[slot]) end
  if failed[slot] then redis.call('HINCRBY', hash, 'failed', failed[slot]) end
  redis.call('EXPIRE', hash, ttl)
  redis.call('EXPIRE', KEYS[3 * slot - 1], ttl)
end
return new
"""


class BatchStatus(BaseModel):
    """A batch's counters: jobs reserved, finished (ok or not), failed, and still pending.

    ``pending`` is None when earmark cannot know it: no job of the batch was ever reserved (a
    producer that skipped the reservation, a batch that expired, a typo), or more jobs finished
    than were reserved. Never a false 0: a poller waits on, or gives up by its own timeout.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_id: str
    total: int
    done: int
    failed: int
    pending: int | None


class Ledger:
    """Per-batch job counters in Redis: reserve ids, finish jobs once, read status in O(1)."""

    def __init__(self, client: redis.Redis, ttl_s: int = RESULT_TTL_S) -> None:
        if ttl_s < 1:
            raise ValueError(f"ttl_s must be at least 1 second, not {ttl_s}")
        self.client = client
        self.ttl_s = ttl_s
        self._finish = client.register_script(_FINISH)

    def reserve(self, batch_id: str, count: int) -> range:
        """Atomically add `count` jobs to the batch; their indices, never handed out twice."""
        key = batch_key(check_batch_id(batch_id))
        if count < 0:
            raise ValueError(f"cannot reserve {count} jobs")
        pipe = self.client.pipeline(transaction=True)
        pipe.hincrby(key, "total", count)
        pipe.expire(key, self.ttl_s)
        pipe.expire(finished_key(batch_id), self.ttl_s)
        with redis_errors(f"reserving {count} jobs of batch {batch_id}"):
            total = int(pipe.execute()[0])
        return range(total - count, total)

    def finish(self, records: Sequence[ResultRecord]) -> int:
        """Count each record's job as finished (failed too when its status is error), once ever.

        One round trip whatever the number of records or batches; returns how many were new.
        """
        slots: dict[str, int] = {}
        args: list[str | int] = [self.ttl_s]
        for record in records:
            batch_id = record_ids(record)[0]
            slot = slots.setdefault(batch_id, len(slots) + 1)
            args += [slot, str(record.job_id), int(record.status == "error")]
        if not slots:
            return 0
        keys = [
            key
            for batch in slots
            for key in (batch_key(batch), finished_key(batch), outstanding_key(batch))
        ]
        with redis_errors(f"finishing {len(records)} jobs"):
            return int(self._finish(keys=keys, args=args))

    def status(self, batch_id: str) -> BatchStatus:
        """The batch's counters in one HMGET; an unknown (or expired) batch reads as all zeros."""
        key = batch_key(check_batch_id(batch_id))
        with redis_errors(f"reading the status of batch {batch_id}"):
            values = self.client.hmget(key, ["total", "done", "failed"])
        total, done, failed = (int(value or 0) for value in values)
        reserved = values[0] is not None
        # Jobs finished without a reservation (or after it expired): their batch's size is unknown.
        pending = total - done if reserved and done <= total else None
        return BatchStatus(
            batch_id=batch_id, total=total, done=done, failed=failed, pending=pending
        )

    def is_finished(self, job_id: str) -> bool:
        """Whether the job has been counted as finished."""
        batch_id, _ = split_job_id(job_id)
        with redis_errors(f"checking job {job_id}"):
            return bool(self.client.sismember(finished_key(batch_id), job_id))

    def finished_among(self, job_ids: Sequence[str]) -> set[str]:
        """Those of ``job_ids`` already counted as finished, in one round trip."""
        if not job_ids:
            return set()
        pipe = self.client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.sismember(finished_key(split_job_id(job_id)[0]), job_id)
        with redis_errors("checking finished jobs"):
            answers = pipe.execute()
        return {job_id for job_id, done in zip(job_ids, answers, strict=True) if done}

    def reopen(self, job_id: str, failed: bool) -> None:
        """Uncount a finished job, so that a retry of it is counted again."""
        batch_id, _ = split_job_id(job_id)
        with redis_errors(f"reopening job {job_id}"):
            if self.client.srem(finished_key(batch_id), job_id):
                pipe = self.client.pipeline()
                pipe.hincrby(batch_key(batch_id), "done", -1)
                if failed:
                    pipe.hincrby(batch_key(batch_id), "failed", -1)
                pipe.execute()
