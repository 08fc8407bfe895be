"""A Redis that would evict earmark's keys, against real redis-servers: the policy and memory
read, a worker that refuses to start (or starts with the opt-in, warning), a producer that
warns, and a Redis that will not say its policy (CONFIG refused by an ACL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from producer.state.eviction import ALLOW_SETTING, read_memory
from scripts.redis_server import RedisServer, running_redis
from tests.conftest import Earmark
from tests.workers import WorkerProcess, start_worker, worker_env


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server whose policy and ACLs a test may change."""
    with running_redis(tmp_path) as started:
        yield started


def _evicting(server: RedisServer, policy: str = "volatile-lru") -> str:
    client = redis.Redis.from_url(server.url)
    client.config_set("maxmemory", "100mb")
    client.config_set("maxmemory-policy", policy)
    return server.url


@pytest.mark.parametrize(
    ("policy", "evicting"),
    [("noeviction", False), ("allkeys-lru", True), ("volatile-ttl", True), ("allkeys-lfu", True)],
)
def test_the_policy_and_memory_are_read(server: RedisServer, policy: str, evicting: bool) -> None:
    url = _evicting(server, policy)
    memory = read_memory("broker", url, redis.Redis.from_url(url))
    assert (memory.policy, memory.evicting) == (policy, evicting)
    assert memory.max_bytes == 100 * 1024 * 1024 and memory.used_bytes > 0
    if evicting:
        said = memory.describe()
        assert policy in said and "noeviction" in said and ALLOW_SETTING in said


def test_a_redis_that_refuses_config_is_said_to_be_unknown(server: RedisServer) -> None:
    """Managed Redis services refuse or rename CONFIG: the policy is unknown, never guessed."""
    client = redis.Redis.from_url(server.url)
    client.execute_command("ACL", "SETUSER", "default", "-config")  # type: ignore[no-untyped-call]
    memory = read_memory("results", server.url, redis.Redis.from_url(server.url))
    assert memory.policy is None and not memory.evicting
    assert memory.unread is not None and "CONFIG GET refused" in memory.unread
    assert "make sure it is noeviction" in memory.describe()


def test_enqueue_warns_of_an_evicting_redis_and_queues(
    earmark: Earmark, server: RedisServer
) -> None:
    """Catches a producer that queues a nightly batch into a Redis that will drop its ledger
    without a word."""
    url = _evicting(server)
    done = earmark("enqueue", "/a.wav", EARMARK_BROKER_URL=url, EARMARK_RESULTS_URL=url)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    line = lines[0]
    assert (
        line.startswith("earmark: warning: the broker and results Redis") and "volatile-lru" in line
    )
    assert redis.Redis.from_url(url).llen("earmark.bulk") == 1


@pytest.mark.worker
def test_a_worker_refuses_an_evicting_redis_unless_allowed(
    server: RedisServer, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    """Exit 2 and one line naming the policy, the fix and EARMARK_ALLOW_EVICTION; with it set
    to 1 the worker starts and says what it risks."""
    url = _evicting(server)
    refused = start_worker(worker_env(url, url), tmp_path / "refused.log")
    assert refused.process.wait(timeout=60) == 2
    said = refused.log.read_text(errors="replace")
    assert "earmark: the broker and results Redis" in said and ALLOW_SETTING in said, said[-2000:]
    allowed = start_worker(worker_env(url, url, {ALLOW_SETTING: "1"}), tmp_path / "allowed.log")
    workers.append(allowed)
    allowed.wait_ready()
    assert "starting anyway" in allowed.log.read_text(errors="replace")


def test_enqueue_on_a_full_redis_exits_3_with_one_line_and_books_nothing(
    earmark: Earmark, server: RedisServer
) -> None:
    """Under noeviction at maxmemory every write is refused: the enqueue says the Redis is full
    and what to do, and leaves no reservation, booking or message behind."""
    client = redis.Redis.from_url(server.url)
    client.config_set("maxmemory", "2mb")
    with pytest.raises(redis.OutOfMemoryError):
        for n in range(10_000):
            client.set(f"fill:{n}", "x" * 10_000)
    done = earmark(
        "enqueue", "/a.wav", "/b.wav", "--batch-id", "full", "--interactive",
        EARMARK_BROKER_URL=server.url, EARMARK_RESULTS_URL=server.url,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "the Redis is full" in lines[0] and "maxmemory" in lines[0]
    assert not client.exists("earmark:batch:full", "earmark:outstanding:full")
    assert client.llen("earmark.interactive") == 0
