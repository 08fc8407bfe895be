"""Celery's consumer with three additions: it refuses broken envelopes before Celery trips on
them, dead-letters what it refuses, and lets go of the messages of a connection it lost.

- A message whose envelope Celery cannot make a request of (worker/service/envelope.py) is
  refused before Celery sees it; anything else that still raises while a message is turned into
  a request is caught there too. Either way it is dead-lettered once, acknowledged, and the
  worker serves on: no message can end a worker.

- Celery acknowledges or rejects a message it cannot decode (not JSON, pickle, a broken body),
  one in an unknown format and one naming an unknown task; each is logged and gone. Such a
  message names no job, so no record can carry its error: it goes to the dead-letter list
  (producer/state/dlq.py) for a person to see.
- When the broker connection drops (Redis restarted), Celery forgets the messages it had
  prefetched: they cannot be acknowledged on a new connection. kombu tries to put them back on
  their queue, which fails while Redis is down, so they stay unacknowledged; the heartbeat
  (worker/service/heartbeat.py) must stop holding them, or they would never time out and come
  back.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from celery.exceptions import InvalidTaskError
from celery.worker.consumer import Consumer
from vine import promise

from producer.errors import InvalidMessage, StoreError
from producer.state.dlq import MAX_MESSAGE_CHARS, DeadLetters
from worker.service.envelope import refusal
from worker.service.heartbeat import Heartbeat

log = logging.getLogger(__name__)


class EarmarkConsumer(Consumer):  # type: ignore[misc]
    """A Celery consumer that dead-letters what it refuses and releases a lost connection's.

    Celery instantiates the class it is configured with; :meth:`bound` makes the subclass that
    knows this worker's heartbeat and dead-letter list.
    """

    heartbeat: Heartbeat
    dead_letters: DeadLetters

    @classmethod
    def bound(cls, heartbeat: Heartbeat, dead_letters: DeadLetters) -> type[EarmarkConsumer]:
        """The consumer class of one worker."""
        return type(cls.__name__, (cls,), {"heartbeat": heartbeat, "dead_letters": dead_letters})

    def create_task_handler(self, promise: Any = promise) -> Any:
        """Celery's message handler, behind the envelope check and a last-resort catch."""
        handle = super().create_task_handler(promise)
        fatal = tuple(self.connection_errors) + tuple(self.channel_errors)

        def on_task_received(message: Any) -> Any:
            problem = refusal(message.headers, message.content_type, message.body)
            if problem is not None:
                return self.on_invalid_task(None, message, InvalidTaskError(problem))
            try:
                return handle(message)
            except fatal:
                raise  # the connection is gone: Celery reconnects, the message comes back
            except Exception as e:  # a message must never end the worker
                log.exception("earmark: a message could not be turned into a request")
                return self.on_invalid_task(None, message, InvalidTaskError(repr(e)[:300]))

        return on_task_received

    #: Whether Celery reported the connection lost since the last close: Celery closes the same
    #: way on a requested shutdown, which must not read as an outage (issue #23).
    _connection_lost = False

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        """The broker connection dropped; Celery closes it and reconnects next."""
        self._connection_lost = True
        super().on_connection_error_after_connected(exc)

    def on_close(self) -> None:
        """The connection is gone, and with it every message it delivered to this worker: lost
        (a warning), or closed by a requested shutdown (said quietly)."""
        released = self.heartbeat.release_all()
        lost, self._connection_lost = self._connection_lost, False
        if released and lost:
            log.warning(
                "earmark: connection lost; %d held messages will be delivered again", released
            )
        elif released:
            log.info(
                "earmark: stopping; %d held messages let go, any unfinished to be delivered again",
                released,
            )
        super().on_close()

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        """A body that cannot be decoded, or content that is not allowed (pickle)."""
        self._dead_letter(message, f"cannot decode ({message.content_type}): {exc}")
        super().on_decode_error(message, exc)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        """A message that is not a Celery task message."""
        self._dead_letter(message, "not a task message")
        super().on_unknown_message(body, message)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        """A task name no worker here runs."""
        self._dead_letter(message, f"unknown task {message.headers.get('task')!r}")
        super().on_unknown_task(body, message, exc)

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        """A task message Celery cannot make a request of."""
        self._dead_letter(message, f"invalid task message: {exc}")
        super().on_invalid_task(body, message, exc)

    def _dead_letter(self, message: Any, detail: str) -> None:
        # The raw bytes, base64: never decoded (they may be pickle), only kept.
        raw = message.body if isinstance(message.body, bytes) else str(message.body).encode()
        text = base64.b64encode(raw[: MAX_MESSAGE_CHARS * 3 // 4]).decode()
        try:
            self.dead_letters.push_message(text, InvalidMessage.code, detail[:500])
        except StoreError as e:  # the broker itself is failing; Celery's own handling still runs
            log.warning("earmark: could not dead-letter a refused message: %s", e)
