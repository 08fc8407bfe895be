"""Dead letters: what a worker could not run, kept for a person to look at.

Two kinds of entry, newest first on one Redis list:

- ``{"job", "reason", "attempts", "at"}``: a job that crashed its worker too often; replayable.
- ``{"message", "reason", "detail", "at"}``: a task message that names no job (malformed,
  refused content, an unknown task), so no record can hold its error; ``message`` is its text,
  cut to ``MAX_MESSAGE_CHARS``. Not replayable: there is nothing to run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import redis

from producer.messages import Job
from producer.state.keys import ATTEMPTS_TTL_S, DLQ_KEY, dead_key
from producer.state.redis import redis_errors

#: Characters of a dead-lettered message kept (an oversized one is cut).
MAX_MESSAGE_CHARS = 64 * 1024


class DeadLetters:
    """The dead-letter list on the broker's Redis."""

    def __init__(self, client: redis.Redis, guard_ttl_s: int = ATTEMPTS_TTL_S) -> None:
        self.client = client
        self.guard_ttl_s = guard_ttl_s
        self._push_once = client.register_script(_PUSH_ONCE)

    def push(self, job: Job, reason: str, attempts: int) -> bool:
        """Dead-letter one job with why and after how many attempts, unless it is already
        listed (a redelivered batch must not list it twice); whether it was added."""
        entry = {"job": job.model_dump(mode="json"), "reason": reason, "attempts": attempts}
        entry["at"] = time.time()
        keys = [DLQ_KEY, dead_key(job.job_id)]
        with redis_errors("dead-lettering a job"):
            return bool(self._push_once(keys=keys, args=[json.dumps(entry), self.guard_ttl_s]))

    def forget(self, job_id: str) -> None:
        """Lift the once-only guard of a job taken off the list (before it is replayed)."""
        with redis_errors("clearing a dead-letter guard"):
            self.client.delete(dead_key(job_id))

    def push_message(self, message: str, reason: str, detail: str) -> None:
        """Dead-letter a task message that names no job, as text."""
        text = message[:MAX_MESSAGE_CHARS]
        entry = {"message": text, "reason": reason, "detail": detail, "at": time.time()}
        with redis_errors("dead-lettering a message"):
            self.client.lpush(DLQ_KEY, json.dumps(entry))

    def put_back(self, oldest_first: list[dict[str, Any]]) -> None:
        """Return entries taken with :meth:`pop_oldest` to the old end of the list, in order."""
        if oldest_first:
            with redis_errors("returning entries to the dead-letter list"):
                self.client.rpush(DLQ_KEY, *(json.dumps(e) for e in reversed(oldest_first)))

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every dead-lettered entry, newest first."""
        with redis_errors("reading the dead-letter list"):
            raw = self.client.lrange(DLQ_KEY, 0, -1)
        for item in raw:
            yield json.loads(item)

    def pop_oldest(self) -> dict[str, Any] | None:
        """Take the oldest entry off the list (to replay it), or None when it is empty."""
        with redis_errors("taking from the dead-letter list"):
            item = self.client.rpop(DLQ_KEY)
        return None if not isinstance(item, bytes | str) else dict(json.loads(item))


#: Lua: list the entry only if the job's guard was not set, and set it, in one atomic step.
_PUSH_ONCE = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', tonumber(ARGV[2])) then
  return redis.call('LPUSH', KEYS[1], ARGV[1])
end
return 0
"""
