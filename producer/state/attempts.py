"""Attempt counts: how often each job has been started, so that a job which kills its worker
every time is found out (and dead-lettered) instead of crashing workers for ever."""

from __future__ import annotations

from collections.abc import Sequence

import redis

from producer.state.keys import ATTEMPTS_TTL_S, attempts_key
from producer.state.redis import redis_errors


class Attempts:
    """Per-job attempt counters on the broker's Redis."""

    def __init__(self, client: redis.Redis, ttl_s: int = ATTEMPTS_TTL_S) -> None:
        self.client = client
        self.ttl_s = ttl_s

    def seen(self, job_ids: Sequence[str]) -> dict[str, int]:
        """How often each job has been started before (0 for never)."""
        if not job_ids:
            return {}
        with redis_errors("reading attempt counts"):
            values = self.client.mget([attempts_key(job_id) for job_id in job_ids])
        return {job_id: int(v or 0) for job_id, v in zip(job_ids, values, strict=True)}

    def begin(self, job_ids: Sequence[str]) -> dict[str, int]:
        """Count one more attempt of each job, before it starts; returns the new counts."""
        pipe = self.client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.incr(attempts_key(job_id))
            pipe.expire(attempts_key(job_id), self.ttl_s)
        with redis_errors("counting attempts"):
            answers = pipe.execute()
        return {job_id: int(n) for job_id, n in zip(job_ids, answers[::2], strict=True)}

    def clear(self, job_id: str) -> None:
        """Forget a job's attempts (before it is replayed from the dead-letter list)."""
        with redis_errors("clearing attempt counts"):
            self.client.delete(attempts_key(job_id))
