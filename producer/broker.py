"""The broker both sides share: JSON-only Celery messages, two queues, one way to publish.

Each queue has its own direct exchange and routing key of the same name, so a client that names
the exchange reaches that queue only. earmark itself publishes by the default exchange (``""``),
which delivers straight to the queue named by the routing key, whether or not any worker has
declared its bindings yet.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import redis
from celery import Celery
from kombu import Exchange, Queue  # type: ignore[attr-defined]
from kombu.exceptions import OperationalError

from producer.errors import BrokerError
from producer.messages import BULK_QUEUE, CHUNK_TASK, CLASSIFY_TASK, INTERACTIVE_QUEUE
from producer.settings import Settings
from producer.state.redis import SentinelUrl, is_sentinel_url


def transport_options(settings: Settings) -> dict[str, Any]:
    """kombu's Redis transport options from the delivery timers in `settings`.

    The visibility timeout is short, so that a crashed worker's messages come back soon; live
    workers re-score the messages they hold every ``heartbeat_s`` (worker/service/heartbeat.py),
    so their work never times out. Consumers look for timed-out messages every
    ``restore_interval_s`` (kombu's default is 100 s), and a crashed restorer's lock goes after
    30 s instead of 5 minutes.
    """
    return {
        "visibility_timeout": settings.visibility_timeout_s,
        "unacked_restore_interval": settings.restore_interval_s,
        "unacked_restore_throttle": 1,
        "unacked_mutex_expire": 30,
    }


#: The queue of each task.
TASK_QUEUES = {CLASSIFY_TASK: INTERACTIVE_QUEUE, CHUNK_TASK: BULK_QUEUE}


def queues() -> list[Queue]:
    """The two queues, each bound to its own direct exchange by its own name."""
    return [
        Queue(name, Exchange(name, type="direct"), routing_key=name)
        for name in (INTERACTIVE_QUEUE, BULK_QUEUE)
    ]


def broker_connection(url: str, options: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """kombu's URL for `url` and its transport `options` (with a Sentinel URL's
    ``master_name``).

    kombu cannot take ``master_name`` in the URL (its query becomes connection arguments), so a
    ``sentinel://…?master_name=NAME`` URL hands it over as the transport option kombu reads.
    """
    if not is_sentinel_url(url):
        return url, dict(options)
    parsed = SentinelUrl.parse(url)
    return parsed.kombu_url(), {**options, "master_name": parsed.master_name}


def make_celery(settings: Settings, name: str = "earmark") -> Celery:
    """A Celery app on the configured broker that sends and accepts JSON only (never pickle)."""
    url, options = broker_connection(settings.broker_url, transport_options(settings))
    app = Celery(name, broker=url)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_backend=None,  # results go to the results store, one record per reference
        task_ignore_result=True,
        broker_transport_options=options,
        broker_connection_retry_on_startup=True,
        task_queues=queues(),
        task_routes={task: {"queue": queue} for task, queue in TASK_QUEUES.items()},
        task_default_queue=INTERACTIVE_QUEUE,
    )
    return app


class Publisher:
    """Sends task messages: protocol-2 JSON, kwargs only, to the task's queue."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def publish(
        self, task: str, bodies: Mapping[str, Mapping[str, Any]], producer: Any | None = None
    ) -> None:
        """Send one message per ``key -> kwargs`` of `bodies`, pipelined in one round trip.

        The key (a job id, or a chunk's message key) rides in the ``kwargsrepr`` header, where
        the sweeper and the monitoring tools read it. Celery's ``send_task`` would cost ~0.3 ms
        a message in routing and log formatting; this builds the same message directly.
        """
        if not bodies:
            return
        queue, amqp = TASK_QUEUES[task], self.app.amqp
        try:
            with self.app.producer_or_acquire(producer) as sender, sender.batch(len(bodies)):
                for key, kwargs in bodies.items():
                    message = amqp.as_task_v2(
                        str(uuid.uuid4()), task, kwargs=dict(kwargs), argsrepr="()",
                        kwargsrepr=key, ignore_result=True,
                    )  # fmt: skip
                    sender.publish(
                        message.body, exchange="", routing_key=queue, serializer="json",
                        headers=message.headers, **message.properties,
                    )  # fmt: skip
        except (OperationalError, redis.RedisError, OSError) as e:
            raise BrokerError(f"cannot publish to {queue}: {e}") from e
