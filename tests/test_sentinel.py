"""Redis Sentinel: a real primary, its replica and three sentinels; the primary killed mid-run.

The sentinels are ``redis-server --sentinel`` processes on free ports that fail over one second
after the primary stops answering. Broker, results store and ledger all take the one
``sentinel://…?master_name=…`` URL, so every Redis client earmark makes follows the failover.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from producer.broker import Publisher, broker_connection, make_celery
from producer.errors import ConfigError
from producer.messages import CLASSIFY_TASK, INTERACTIVE_QUEUE
from producer.settings import Settings
from producer.state.redis import SentinelUrl, connect
from producer.stores.redis import RedisStore
from producer.stores.urls import open_store
from scripts.processes import free_port
from scripts.redis_server import RedisServer, redis_binary, start_redis
from tests.models import GOLDEN_AUDIO
from tests.workers import WorkerProcess, client_for, start_worker, worker_env

MASTER = "earmark"
#: Milliseconds without an answer before a sentinel calls the primary down.
DOWN_AFTER_MS = 1000
#: Seconds to wait for the sentinels to agree on a new primary.
FAILOVER_BOUND_S = 30.0
#: Seconds every job has to finish after the failover: the messages the worker held come back
#: after the visibility timeout (60 s) and kombu's restore interval (10 s).
RUN_BOUND_S = 150.0
#: Enough that the worker is far from done when the primary is killed.
JOBS = 200


@dataclass
class Cluster:
    """A primary, its replica, and the sentinels watching them."""

    primary: RedisServer
    replica: RedisServer
    sentinels: list[subprocess.Popen[bytes]]
    ports: list[int]

    def url(self, db: int) -> str:
        """The Sentinel URL of database `db` of the current master."""
        hosts = ";".join(f"sentinel://127.0.0.1:{port}" for port in self.ports)
        return f"{hosts}/{db}?master_name={MASTER}"

    def masters(self) -> set[int]:
        """The ports of the masters the sentinels name, 0 for each that does not answer."""
        named = set()
        for port in self.ports:
            try:
                ask = redis.Redis(port=port, socket_timeout=1, decode_responses=True)
                address = ask.sentinel_get_master_addr_by_name(MASTER)
                named.add(int(address[1]) if isinstance(address, tuple) else 0)
            except redis.RedisError:
                named.add(0)
        return named

    def wait_for_master(self, port: int) -> None:
        """Return once every sentinel names the master on `port`.

        Until then a client may ask one that still names the old master, which redis-py's
        retries ride out but a test's timing could not.
        """
        deadline = time.monotonic() + FAILOVER_BOUND_S
        while self.masters() != {port}:
            assert time.monotonic() < deadline, f"no failover to {port}: {self.masters()}"
            time.sleep(0.1)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A primary with one replica and three sentinels that know both, all running."""
    primary = start_redis(tmp_path)
    replica = start_redis(tmp_path)
    sentinels: list[subprocess.Popen[bytes]] = []
    try:
        redis.Redis(port=replica.port).replicaof("127.0.0.1", primary.port)
        ports = [free_port() for _ in range(3)]
        sentinels = [_start_sentinel(tmp_path, port, primary.port) for port in ports]
        made = Cluster(primary, replica, sentinels, ports)
        _wait_until_known(made)
        yield made
    finally:
        for process in sentinels:
            process.kill()
            process.wait(timeout=10)
        replica.stop()
        primary.stop()


def _start_sentinel(folder: Path, port: int, primary_port: int) -> subprocess.Popen[bytes]:
    # A sentinel rewrites its configuration file, so each gets its own.
    config = folder / f"sentinel-{port}.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {folder}\nlogfile {folder}/sentinel-{port}.log\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {primary_port} 2\n"
        f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
        f"sentinel failover-timeout {MASTER} 5000\n"
    )
    command = [redis_binary(), str(config), "--sentinel"]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)


def _wait_until_known(cluster: Cluster) -> None:
    """Wait until the replica is in sync and every sentinel knows it and the other two."""
    deadline = time.monotonic() + 30
    while not _all_known(cluster):
        assert time.monotonic() < deadline, "the sentinels never found the replica and each other"
        time.sleep(0.2)


def _all_known(cluster: Cluster) -> bool:
    try:
        info = redis.Redis(port=cluster.replica.port).info("replication")
        if info.get("master_link_status") != "up":
            return False
        for port in cluster.ports:
            ask = redis.Redis(port=port, socket_timeout=1)
            replicas, others = ask.sentinel_slaves(MASTER), ask.sentinel_sentinels(MASTER)
            if not isinstance(replicas, list) or not isinstance(others, list):
                return False
            if len(replicas) < 1 or len(others) < 2:
                return False
        return True
    except redis.RedisError:
        return False


def test_a_sentinel_url_is_taken_apart_for_both_clients() -> None:
    """The master's name, login and database reach redis-py and kombu, each as it reads them."""
    url = "sentinel://h1:26380;sentinel://:p%40w@h2/3?master_name=m&socket_timeout=2"
    parsed = SentinelUrl.parse(url)
    assert parsed.sentinels == (("h1", 26380), ("h2", 26379))
    assert parsed.master_options() == {"password": "p@w", "db": 3, "socket_timeout": 2.0}
    kombu_url, options = broker_connection(url, {})
    assert kombu_url == "sentinel://:p%40w@h1:26380/3;sentinel://h2:26379"
    assert options["master_name"] == "m"
    assert broker_connection("redis://h/0", {})[1].get("master_name") is None


@pytest.mark.parametrize(
    "url",
    [
        "sentinel://:s3cret@h1:26379/0",  # no master_name
        "sentinel://:s3cret@h1:26379;redis://h2:6379/0?master_name=m",  # not a sentinel
        "sentinel://:s3cret@h1:26379/x?master_name=m",  # not a database number
        "sentinel://:s3cret@h1:bad/0?master_name=m",  # not a port
        "sentinel://:s3cret@h1/0?master_name=m&ssl_cert_reqs=none",  # TLS
    ],
)
def test_a_bad_sentinel_url_is_a_config_error(url: str) -> None:
    """A Sentinel URL that cannot work is a ConfigError naming the form, never the password."""
    with pytest.raises(ConfigError, match="Sentinel") as raised:
        open_store(url)
    assert "s3cret" not in str(raised.value)
    with pytest.raises(ConfigError):
        broker_connection(url, {})


@pytest.mark.slow
def test_a_client_and_the_broker_follow_the_failover(cluster: Cluster) -> None:
    """A client and a publisher of the Sentinel URLs write to the primary; with the primary
    killed, the same client and app write to the promoted replica once the sentinels name it."""
    client = connect(cluster.url(1))
    assert isinstance(open_store(cluster.url(1)), RedisStore)
    publisher = Publisher(make_celery(Settings(broker_url=cluster.url(0))))
    client.set("before", "1")
    publisher.publish(CLASSIFY_TASK, {"job-before": {}})
    primary = redis.Redis(port=cluster.primary.port)
    assert primary.llen(INTERACTIVE_QUEUE) == 1
    assert redis.Redis(port=cluster.primary.port, db=1).get("before") == b"1"

    cluster.primary.stop()  # SIGKILL
    cluster.wait_for_master(cluster.replica.port)
    client.set("after", "1")  # its connection broke: it asks the sentinels again
    publisher.publish(CLASSIFY_TASK, {"job-after": {}})
    assert redis.Redis(port=cluster.replica.port, db=1).mget("before", "after") == [b"1", b"1"]
    assert redis.Redis(port=cluster.replica.port).llen(INTERACTIVE_QUEUE) == 2


@pytest.mark.worker
def test_a_worker_run_survives_a_failover(
    cluster: Cluster,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    """Given a worker with broker and results on the Sentinel URL, the primary killed mid-run:
    every job ends with exactly one ok record, and the ledger counts them all."""
    env = worker_env(cluster.url(0), cluster.url(1))
    worker = start_worker(env, tmp_path / "worker.log", "--concurrency", "1")
    workers.append(worker)
    worker.wait_ready()
    client = client_for(env)
    clips = sorted(str(p) for p in GOLDEN_AUDIO.glob("*.wav"))
    refs = [clips[i % len(clips)] for i in range(JOBS)]
    batch = client.submit_many(refs, bulk=False).batch_id
    deadline = time.monotonic() + RUN_BOUND_S
    while client.status(batch).done < 5:
        assert time.monotonic() < deadline, worker.log.read_text(errors="replace")[-3000:]
        time.sleep(0.05)

    cluster.primary.stop()  # SIGKILL, mid-run
    cluster.wait_for_master(cluster.replica.port)
    assert (client.status(batch).pending or 0) > 0  # the failover is mid-run

    records = list(client.iter_results(batch, wait=True, timeout=RUN_BOUND_S))
    assert len(records) == len({r.job_id for r in records}) == JOBS
    assert all(r.status == "ok" for r in records)
    status = client.status(batch)
    assert (status.done, status.failed, status.pending) == (JOBS, 0, 0)
    log = worker.log.read_text(errors="replace")
    assert worker.process.poll() is None, log[-3000:]
