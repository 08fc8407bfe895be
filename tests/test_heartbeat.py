"""The heartbeat against a real Redis: held messages stay invisible; a message is let go past
its own longest hold (a chunk holding recordings may be held longer than one of clips).

On a private server of its own: the hand-made ``unacked`` entries below are no kombu messages,
and a worker that later restored them from the session's shared server would fail to start.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from producer.state.keys import UNACKED_INDEX_KEY, UNACKED_KEY
from scripts.redis_server import running_redis
from worker.service.heartbeat import Heartbeat


@pytest.fixture
def redis_client(tmp_path: Path) -> Iterator[redis.Redis]:
    """A client of a private redis-server, gone with the test."""
    with running_redis(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        yield client
        client.close()


def _deliver(client: redis.Redis, *tags: str) -> None:
    for tag in tags:
        client.hset(UNACKED_KEY, tag, "{}")
        client.zadd(UNACKED_INDEX_KEY, {tag: 0.0})


def test_a_message_is_held_for_its_own_time_not_only_the_default(
    redis_client: redis.Redis,
) -> None:
    """Before, every message was let go at the chunk time limit plus a visibility timeout, a
    chunk still labelling a recording past it too: delivered again while it ran."""
    heartbeat = Heartbeat(redis_client, max_hold_s=0.3)
    _deliver(redis_client, "clips", "recording", "short")
    heartbeat.hold("clips")
    heartbeat.hold("recording", 30.0)
    heartbeat.hold("short", 0.1)  # shorter than the default: the default holds
    assert heartbeat.beat() == 3
    time.sleep(0.5)
    before = time.time()
    assert heartbeat.beat() == 1
    scores = dict(redis_client.zrange(UNACKED_INDEX_KEY, 0, -1, withscores=True))  # type: ignore[arg-type]
    assert scores[b"recording"] >= before  # refreshed
    assert 0 < scores[b"clips"] < before and 0 < scores[b"short"] < before  # let go


def test_an_acknowledged_message_is_forgotten(redis_client: redis.Redis) -> None:
    heartbeat = Heartbeat(redis_client, max_hold_s=30.0)
    _deliver(redis_client, "a", "b")
    heartbeat.hold("a")
    heartbeat.hold("b", 60.0)
    redis_client.hdel(UNACKED_KEY, "b")
    assert heartbeat.beat() == 1
    assert heartbeat.beat() == 1 and heartbeat.release_all() == 1
