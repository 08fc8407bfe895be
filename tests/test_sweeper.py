"""The sweeper against a private real Redis: a booked message lost from the broker is sent again.

No worker runs here: messages are published by the real producer Client and taken off their
queue the way kombu does (BRPOP, then a booking in ``unacked``), so that each test can stop
halfway, where a killed worker would.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import redis

from producer.client import Client
from producer.messages import BULK_QUEUE, INTERACTIVE_QUEUE
from producer.records import ResultRecord
from producer.settings import Settings
from producer.sources import SourceItem
from producer.state.keys import OPEN_KEY, UNACKED_KEY, outstanding_key
from producer.state.outstanding import chunk_key
from worker.service.sweeper import MAX_SCAN, Sweeper

QUEUES = [INTERACTIVE_QUEUE, BULK_QUEUE]
#: The production timers, so the tests read as the sweeper behaves there.
SWEEP_S = Settings.model_fields["sweep_s"].default
CONFIRM_S = Settings.model_fields["sweep_confirm_s"].default


@pytest.fixture
def client(redis_client: redis.Redis, redis_url: str) -> Client:
    """A producer on the private Redis (broker, results and ledger in one database)."""
    return Client(Settings(broker_url=redis_url, results_url=redis_url))


@pytest.fixture
def sweeper(redis_client: redis.Redis, client: Client) -> Sweeper:
    """A sweeper that publishes through the producer's own publisher."""

    def publish(task: str, kwargs: dict[str, Any], key: str) -> None:
        client.publisher.publish(task, {key: kwargs})

    return Sweeper(
        redis_client, client.state.outstanding, publish, QUEUES,
        interval_s=SWEEP_S, confirm_s=CONFIRM_S,
    )  # fmt: skip


def take(redis_client: redis.Redis, queue: str, *, book: bool) -> dict[str, Any]:
    """Pop the oldest message as kombu does; book it as unacknowledged only when `book`."""
    raw = redis_client.rpop(queue)
    assert isinstance(raw, bytes)
    payload: dict[str, Any] = json.loads(raw)
    if book:
        tag = payload["properties"]["delivery_tag"]
        redis_client.hset(UNACKED_KEY, tag, json.dumps([payload, "", queue]))
    return payload


def queued_keys(redis_client: redis.Redis, queue: str) -> list[str]:
    """The kwargsrepr of every message on `queue`."""
    return [json.loads(raw)["headers"]["kwargsrepr"] for raw in redis_client.lrange(queue, 0, -1)]


def test_a_message_lost_between_pop_and_booking_is_sent_again(
    client: Client, sweeper: Sweeper, redis_client: redis.Redis
) -> None:
    """Given three jobs: one queued, one held by a worker, one popped by a worker that died."""
    submission = client.submit_many(["a.wav", "b.wav", "c.wav"], bulk=False)
    held = take(redis_client, INTERACTIVE_QUEUE, book=True)
    lost = take(redis_client, INTERACTIVE_QUEUE, book=False)
    lost_id = lost["headers"]["kwargsrepr"]

    # The first sweep only suspects it: a live worker may be between its BRPOP and its booking.
    assert sweeper.sweep(now=1000.0) == []
    assert queued_keys(redis_client, INTERACTIVE_QUEUE) == [f"{submission.batch_id}:2"]
    # Still missing a confirmation later: it is sent again, and only it.
    assert sweeper.sweep(now=1000.0 + CONFIRM_S) == [lost_id]
    assert sorted(queued_keys(redis_client, INTERACTIVE_QUEUE)) == sorted(
        [lost_id, f"{submission.batch_id}:2"]
    )
    assert held["headers"]["kwargsrepr"] not in queued_keys(redis_client, INTERACTIVE_QUEUE)
    # Once queued again it is no longer missing.
    assert sweeper.sweep(now=1000.0 + 3 * CONFIRM_S) == []


def test_the_message_sent_again_is_the_one_booked(
    client: Client, sweeper: Sweeper, redis_client: redis.Redis
) -> None:
    client.submit_many([SourceItem("x.wav", {"k": 1}), "y.wav"], bulk=False, top_k=3)
    original = take(redis_client, INTERACTIVE_QUEUE, book=False)
    sweeper.sweep(now=0.0)
    sweeper.sweep(now=CONFIRM_S)
    queued = [json.loads(raw) for raw in redis_client.lrange(INTERACTIVE_QUEUE, 0, -1)]
    again = next(
        p for p in queued if p["headers"]["kwargsrepr"] == original["headers"]["kwargsrepr"]
    )
    assert decode_kwargs(again) == decode_kwargs(original)


def decode_kwargs(payload: dict[str, Any]) -> Any:
    """The kwargs of a kombu payload (protocol 2 JSON, base64 in the Redis transport)."""
    return json.loads(base64.b64decode(payload["body"]))[1]


def test_a_lost_chunk_is_sent_again(
    client: Client, sweeper: Sweeper, redis_client: redis.Redis
) -> None:
    submission = client.submit_many([f"{i}.wav" for i in range(10)], chunk_size=4)
    take(redis_client, BULK_QUEUE, book=False)  # the first chunk, jobs 0-3
    sweeper.sweep(now=0.0)
    assert sweeper.sweep(now=CONFIRM_S) == [chunk_key(submission.batch_id, "0")]
    assert len(queued_keys(redis_client, BULK_QUEUE)) == 3


def test_finished_work_is_never_sent_again(
    client: Client, sweeper: Sweeper, redis_client: redis.Redis
) -> None:
    """A job whose record is counted, or a chunk a worker unbooked, is not outstanding."""
    jobs = client.submit_many(["a.wav", "b.wav"], bulk=False)
    chunks = client.submit_many(["c.wav"], chunk_size=4)
    for queue in QUEUES:
        while redis_client.llen(queue):
            take(redis_client, queue, book=False)
    done = [
        ResultRecord(job_id=f"{jobs.batch_id}:{i}", batch_id=jobs.batch_id, input="x", status="ok")
        for i in range(2)
    ]
    client.ledger.finish(done)
    client.state.outstanding.remove(chunks.batch_id, [chunk_key(chunks.batch_id, "0")])

    assert sweeper.sweep(now=0.0) == []
    assert sweeper.sweep(now=CONFIRM_S) == []
    # Batches with nothing outstanding are closed.
    assert redis_client.smembers(OPEN_KEY) == set()
    assert not redis_client.exists(outstanding_key(jobs.batch_id))


def test_a_message_missing_on_one_sweep_only_is_not_sent(
    client: Client, sweeper: Sweeper, redis_client: redis.Redis
) -> None:
    """A message seen missing once (mid-delivery) and then held is left to its worker."""
    client.submit_many(["a.wav"], bulk=False)
    payload = take(redis_client, INTERACTIVE_QUEUE, book=False)
    sweeper.sweep(now=0.0)
    tag = payload["properties"]["delivery_tag"]
    redis_client.hset(UNACKED_KEY, tag, json.dumps([payload, "", INTERACTIVE_QUEUE]))
    assert sweeper.sweep(now=CONFIRM_S) == []
    assert redis_client.llen(INTERACTIVE_QUEUE) == 0


def test_only_one_worker_sweeps_per_interval(
    client: Client, sweeper: Sweeper, redis_client: redis.Redis
) -> None:
    other = Sweeper(
        redis_client, client.state.outstanding, sweeper.publish, QUEUES,
        interval_s=SWEEP_S, confirm_s=CONFIRM_S,
    )  # fmt: skip
    client.submit_many(["a.wav"], bulk=False)
    take(redis_client, INTERACTIVE_QUEUE, book=False)
    sweeper.tick()
    other.tick()  # refused the lock: did not sweep, so did not record a suspect either
    assert redis_client.hlen("earmark:sweeper:suspects") == 1


def test_a_queue_too_long_to_read_is_left_alone(
    client: Client, sweeper: Sweeper, redis_client: redis.Redis
) -> None:
    client.submit_many(["a.wav"], bulk=False)
    take(redis_client, INTERACTIVE_QUEUE, book=False)
    redis_client.rpush(BULK_QUEUE, *(["{}"] * (MAX_SCAN + 1)))
    assert sweeper.in_flight() is None
    assert sweeper.sweep(now=0.0) == sweeper.sweep(now=CONFIRM_S) == []


def test_messages_of_other_producers_are_read_from_their_body(
    client: Client, sweeper: Sweeper, redis_client: redis.Redis
) -> None:
    """A message without earmark's kwargsrepr (another language, a Celery retry) still counts."""
    job_id = client.submit("a.wav")
    raw = redis_client.rpop(INTERACTIVE_QUEUE)
    assert isinstance(raw, bytes)
    payload = json.loads(raw)
    payload["headers"]["kwargsrepr"] = "{'job': {...}}"
    redis_client.lpush(INTERACTIVE_QUEUE, json.dumps(payload))
    assert sweeper.in_flight() == {job_id}
