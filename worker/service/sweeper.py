"""The sweeper: publish again a message that is booked outstanding but nowhere on the broker.

A message the producer booked (producer/state/outstanding.py) is, until its jobs finish, either
on its queue or unacknowledged in kombu's ``unacked`` hash; kombu puts an unacknowledged message
back on its queue once its holder stops heart-beating. A booked message in neither place was
lost: a worker was killed between kombu's BRPOP and its booking of the message as
unacknowledged, or the broker restarted before it had written the message to disk. The sweeper
finds such messages and publishes them again.

A message is in neither place for a moment on every delivery (between the BRPOP and the booking),
so it is sent again only once two sweeps at least ``confirm_s`` apart both found it missing.
Redelivery is harmless either way: records are idempotent and finished jobs are skipped. One
worker of a cluster sweeps at a time, under a Redis lock; its suspects live in Redis, so any
worker can confirm them.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

import redis
from redis.typing import EncodableT, FieldT

from producer.ids import check_batch_id
from producer.state.keys import SWEEPER_LOCK_KEY, SWEEPER_SUSPECTS_KEY, UNACKED_KEY
from producer.state.outstanding import Outstanding, batch_of_key, message_key
from producer.state.redis import as_text

log = logging.getLogger(__name__)

#: Messages a queue or a batch may hold for the sweeper to read it; past this a sweep is skipped,
#: and a message lost meanwhile is found once the backlog has drained below it.
MAX_SCAN = 20_000

#: Sends one task message: (task name, kwargs, message key).
Publish = Callable[[str, dict[str, Any], str], None]


class Sweeper:
    """Finds booked messages that no queue and no worker holds, and publishes them again."""

    def __init__(
        self,
        broker: redis.Redis,
        outstanding: Outstanding,
        publish: Publish,
        queues: Sequence[str],
        *,
        interval_s: float,
        confirm_s: float,
    ) -> None:
        self.broker = broker
        self.outstanding = outstanding
        self.publish = publish
        self.queues = list(queues)
        self.interval_s = interval_s
        self.confirm_s = confirm_s
        self._token = uuid.uuid4().hex

    def tick(self) -> list[str]:
        """Sweep if no other worker swept in the last interval; the keys sent again."""
        lock_ms = int(self.interval_s * 800)  # lapses before this worker's next tick
        if not self.outstanding.client.set(SWEEPER_LOCK_KEY, self._token, nx=True, px=lock_ms):
            return []
        return self.sweep()

    def sweep(self, now: float | None = None) -> list[str]:
        """One pass: confirm the missing messages and publish them again; their keys."""
        held = self.in_flight()
        if held is None:
            return []
        missing = self._missing(held)
        lost = self._confirm(missing, time.time() if now is None else now)
        for batch_id, keys in _by_batch(lost).items():
            for key, message in self.outstanding.get(batch_id, keys).items():
                self.publish(message["task"], message["kwargs"], key)
        if lost:
            log.warning(
                "earmark: lost messages sent again: %d (%s)", len(lost), ", ".join(lost[:5])
            )
        return lost

    def in_flight(self) -> set[str] | None:
        """Keys of every message queued or unacknowledged; None when a queue is too long."""
        pipe = self.broker.pipeline(transaction=False)
        for queue in self.queues:
            pipe.llen(queue)
        if any(length > MAX_SCAN for length in pipe.execute()):
            return None
        pipe = self.broker.pipeline(transaction=True)  # one snapshot of queues and holders
        for queue in self.queues:
            pipe.lrange(queue, 0, -1)
        pipe.hvals(UNACKED_KEY)
        *queued, unacked = pipe.execute()
        payloads = chain(
            (_loads(raw) for raw in chain.from_iterable(queued)),
            (_unacked_payload(raw) for raw in unacked),
        )
        return {key for payload in payloads if (key := _key_of(payload)) is not None}

    def _missing(self, held: set[str]) -> list[str]:
        missing: list[str] = []
        for batch_id in self.outstanding.open_batches():
            count = self.outstanding.count(batch_id)
            if count == 0:
                self.outstanding.close(batch_id)
            elif count <= MAX_SCAN:
                missing += [k for k in self.outstanding.keys(batch_id) if k not in held]
        return missing

    def _confirm(self, missing: Iterable[str], now: float) -> list[str]:
        client = self.outstanding.client
        previous = {as_text(k): float(v) for k, v in client.hgetall(SWEEPER_SUSPECTS_KEY).items()}
        since = {key: previous.get(key, now) for key in missing}
        pipe = client.pipeline(transaction=True)
        pipe.delete(SWEEPER_SUSPECTS_KEY)
        if since:
            mapping: dict[FieldT, EncodableT] = {key: first for key, first in since.items()}
            pipe.hset(SWEEPER_SUSPECTS_KEY, mapping=mapping)
            pipe.expire(SWEEPER_SUSPECTS_KEY, int(self.interval_s * 4))
        pipe.execute()
        return sorted(key for key, first in since.items() if now - first >= self.confirm_s)


def _by_batch(keys: Iterable[str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key in keys:
        grouped.setdefault(batch_of_key(key), []).append(key)
    return grouped


def _loads(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _unacked_payload(raw: bytes | str) -> Any:
    # kombu stores [payload, exchange, routing_key].
    entry = _loads(raw)
    return entry[0] if isinstance(entry, list) and entry else None


def _key_of(payload: Any) -> str | None:
    """A kombu payload's message key: from its ``kwargsrepr`` header, else from its body."""
    if not isinstance(payload, Mapping):
        return None
    headers = payload.get("headers")
    shown = headers.get("kwargsrepr") if isinstance(headers, Mapping) else None
    if isinstance(shown, str) and _is_key(shown):
        return shown
    body = payload.get("body")
    if not isinstance(body, str):
        return None
    try:
        args_kwargs = json.loads(base64.b64decode(body, validate=True))
    except (binascii.Error, ValueError):
        return None
    if isinstance(args_kwargs, list) and len(args_kwargs) > 1:
        kwargs = args_kwargs[1]
        return message_key(kwargs) if isinstance(kwargs, Mapping) else None
    return None


def _is_key(text: str) -> bool:
    batch_id, _, rest = text.partition(":")
    try:
        check_batch_id(batch_id)
    except ValueError:
        return False
    return rest.isdigit() or rest.startswith("chunk:")
