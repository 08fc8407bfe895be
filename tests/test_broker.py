"""The broker both sides share (producer/broker.py): two queues, each behind its own exchange
and routing key, and the one Publisher, tried with a plain Celery client as another service
would send."""

from __future__ import annotations

import base64
import json
from typing import Any

import redis
from celery import Celery

from producer.broker import Publisher, make_celery, queues
from producer.messages import BULK_QUEUE, CHUNK_TASK, CLASSIFY_TASK, INTERACTIVE_QUEUE
from producer.settings import Settings


def _declare(redis_url: str) -> Celery:
    """earmark's app with both queues declared, as a worker declares them when it starts."""
    app = make_celery(Settings(broker_url=redis_url, results_url=redis_url))
    with app.connection_for_write() as connection:
        for queue in queues():
            queue(connection.default_channel).declare()  # type: ignore[no-untyped-call]
    return app


def _lengths(client: redis.Redis) -> tuple[int, int]:
    return int(client.llen(INTERACTIVE_QUEUE)), int(client.llen(BULK_QUEUE))


def _payloads(client: redis.Redis, queue: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in client.lrange(queue, 0, -1)]


def test_a_client_naming_an_exchange_reaches_that_queue_only(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """Given the worker's bindings, a plain Celery client that names a queue's exchange and key
    puts one copy on that queue (before, the bulk queue was bound to the interactive exchange
    and key, so such a message landed on both queues and ran twice)."""
    _declare(redis_url)
    foreign = Celery("another-service", broker=redis_url)  # none of earmark's configuration
    foreign.send_task(
        CLASSIFY_TASK, kwargs={"job": {}}, exchange=INTERACTIVE_QUEUE, routing_key=INTERACTIVE_QUEUE
    )
    assert _lengths(redis_client) == (1, 0)
    foreign.send_task(CHUNK_TASK, kwargs={"chunk": {}}, exchange=BULK_QUEUE, routing_key=BULK_QUEUE)
    assert _lengths(redis_client) == (1, 1)
    foreign.send_task(CHUNK_TASK, kwargs={"chunk": {}}, queue=BULK_QUEUE)  # by queue name
    assert _lengths(redis_client) == (1, 2)


def test_the_publisher_sends_protocol_2_json_to_the_tasks_queue(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """Interactive jobs to earmark.interactive and chunks to earmark.bulk, before any worker has
    declared a binding; kwargs only, JSON, the message key in ``kwargsrepr``."""
    app = make_celery(Settings(broker_url=redis_url, results_url=redis_url))
    publisher = Publisher(app)
    publisher.publish(CLASSIFY_TASK, {"B:0": {"job": {"n": 0}}, "B:1": {"job": {"n": 1}}})
    publisher.publish(CHUNK_TASK, {"B:chunk:0": {"chunk": {"n": 2}}})
    assert _lengths(redis_client) == (2, 1)
    for queue, task in ((INTERACTIVE_QUEUE, CLASSIFY_TASK), (BULK_QUEUE, CHUNK_TASK)):
        for payload in _payloads(redis_client, queue):
            assert payload["content-type"] == "application/json"
            assert payload["headers"]["task"] == task and payload["headers"]["id"]
            args, kwargs, embed = json.loads(base64.b64decode(payload["body"]))
            assert args == [] and isinstance(kwargs, dict) and isinstance(embed, dict)
            assert payload["headers"]["kwargsrepr"] in {"B:0", "B:1", "B:chunk:0"}
