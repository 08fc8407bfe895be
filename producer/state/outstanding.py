"""Outstanding messages: a copy of every task message published, kept until its jobs finish.

The broker alone cannot promise that nothing is lost: kombu's Redis transport pops a message
(BRPOP) before it books it as unacknowledged, so a worker killed in between loses it, and a broker
that restarts loses what it had not yet written to disk. The producer therefore books each
message here before publishing it; finishing a job (producer/state/ledger.py) or a chunk
unbooks it, and the worker's sweeper (worker/service/sweeper.py) publishes again a message that
is booked but neither queued nor held by any worker.

Keys, on the ledger's Redis (both expire with the batch)::

    earmark:outstanding:{batch_id}   hash: message key -> {"task": …, "kwargs": …} JSON
    earmark:open                     set of batch ids that may have outstanding messages

A message key is the job id of an interactive job, or ``{batch_id}:chunk:{chunk_id}`` of a chunk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from redis.typing import EncodableT, FieldT

from producer.state.keys import OPEN_KEY, outstanding_key
from producer.state.redis import as_text, redis_errors


def message_key(kwargs: Mapping[str, Any]) -> str | None:
    """The key a task message is booked under, from its kwargs; None when it has none."""
    job, chunk = kwargs.get("job"), kwargs.get("chunk")
    if isinstance(job, Mapping) and isinstance(job.get("job_id"), str):
        return str(job["job_id"])
    if isinstance(chunk, Mapping):
        batch_id, chunk_id = chunk.get("batch_id"), chunk.get("chunk_id")
        if isinstance(batch_id, str) and isinstance(chunk_id, str):
            return chunk_key(batch_id, chunk_id)
    return None


def chunk_key(batch_id: str, chunk_id: str) -> str:
    """The message key of one chunk."""
    return f"{batch_id}:chunk:{chunk_id}"


def batch_of_key(key: str) -> str:
    """The batch a message key belongs to (batch ids never hold a ``:``)."""
    return key.partition(":")[0]


class Outstanding:
    """The book of published messages whose jobs have not all finished."""

    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self._close = client.register_script(_CLOSE_IF_EMPTY)

    def add(self, batch_id: str, task: str, bodies: Mapping[str, Mapping[str, Any]]) -> None:
        """Book messages of one task (key -> kwargs) before they are published."""
        if not bodies:
            return
        entries: dict[FieldT, EncodableT] = {
            key: json.dumps({"task": task, "kwargs": kwargs}) for key, kwargs in bodies.items()
        }
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(outstanding_key(batch_id), mapping=entries)
        pipe.expire(outstanding_key(batch_id), self.ttl_s)
        pipe.sadd(OPEN_KEY, batch_id)
        with redis_errors(f"booking {len(entries)} messages of batch {batch_id}"):
            pipe.execute()

    def remove(self, batch_id: str, keys: Sequence[str]) -> None:
        """Unbook messages whose jobs have all finished."""
        if keys:
            with redis_errors(f"unbooking messages of batch {batch_id}"):
                self.client.hdel(outstanding_key(batch_id), *keys)

    def open_batches(self) -> list[str]:
        """Batches that may have outstanding messages."""
        with redis_errors("listing open batches"):
            return sorted(as_text(member) for member in self.client.smembers(OPEN_KEY))

    def count(self, batch_id: str) -> int:
        """How many of the batch's messages are outstanding."""
        with redis_errors(f"counting messages of batch {batch_id}"):
            return int(self.client.hlen(outstanding_key(batch_id)))

    def keys(self, batch_id: str) -> list[str]:
        """The keys of the batch's outstanding messages."""
        with redis_errors(f"listing messages of batch {batch_id}"):
            return [as_text(key) for key in self.client.hkeys(outstanding_key(batch_id))]

    def get(self, batch_id: str, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The booked ``{"task", "kwargs"}`` of each key still outstanding."""
        if not keys:
            return {}
        with redis_errors(f"reading messages of batch {batch_id}"):
            values = self.client.hmget(outstanding_key(batch_id), list(keys))
        return {key: json.loads(v) for key, v in zip(keys, values, strict=True) if v is not None}

    def close(self, batch_id: str) -> None:
        """Forget a batch with nothing outstanding (the check and the removal are one step)."""
        with redis_errors(f"closing batch {batch_id}"):
            self._close(keys=[outstanding_key(batch_id), OPEN_KEY], args=[batch_id])


#: Lua: drop the batch from the open set only if its hash is empty (or expired).
_CLOSE_IF_EMPTY = """
if redis.call('HLEN', KEYS[1]) == 0 then return redis.call('SREM', KEYS[2], ARGV[1]) end
return 0
"""
