"""`earmark doctor` against real redis-servers, a results folder and a model folder: a healthy
stack (exit 0), a misconfigured one (exit 1, a line for each fault, saying how to mend it) and
an unreachable Redis (exit 3)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from scripts.processes import free_port
from scripts.redis_server import RedisServer, running_redis
from tests.conftest import Earmark
from tests.models import model_dir
from worker.service.doctor import BYTES_PER_JOB


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server as deploy/ runs it: AOF on every write, noeviction, a maxmemory."""
    (tmp_path / "durable").mkdir()
    with running_redis(tmp_path / "durable", persistent=True) as server:
        redis.Redis.from_url(server.url).config_set("maxmemory", "1gb")
        yield server


def _env(tmp_path: Path, broker: str, **more: str) -> dict[str, str]:
    roots = tmp_path / "audio"
    roots.mkdir(exist_ok=True)
    return {
        "EARMARK_BROKER_URL": broker,
        "EARMARK_RESULTS_URL": broker.rsplit("/", 1)[0] + "/1",
        "EARMARK_MODEL": str(model_dir("wav2vec2")),
        "EARMARK_DTYPE": "fp32",
        "EARMARK_LOCAL_ROOTS": str(roots),
        "EARMARK_METRICS_PORT": str(free_port()),
        **more,
    }


def _levels(stdout: str) -> list[str]:
    return [line.split()[0] for line in stdout.splitlines()]


def test_a_healthy_stack_is_all_ok(earmark: Earmark, durable: RedisServer, tmp_path: Path) -> None:
    done = earmark("doctor", "--expect-jobs-per-day", "10000", **_env(tmp_path, durable.url))
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(_levels(done.stdout)) == {"ok", "note"}, done.stdout
    need = 10_000 * 7 * BYTES_PER_JOB / 1e9
    assert f"10,000 jobs a day kept 7 days need about {need:.2f} GB" in done.stdout
    assert "the model" in done.stdout and "loads" in done.stdout


def test_a_misconfigured_stack_gets_a_line_for_each_fault(
    earmark: Earmark, tmp_path: Path, redis_url: str
) -> None:
    """Catches a doctor that stops at the first fault, or names none of the mends: an evicting,
    non-persistent Redis too small for the volume, a model folder that is not there, a local
    root that is not there, a results folder that cannot be made, a metrics port in use."""
    with running_redis(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        client.config_set("maxmemory", "10mb")
        client.config_set("maxmemory-policy", "allkeys-lru")
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        taken = socket.socket()
        taken.bind(("", 0))
        taken.listen()
        env = _env(
            tmp_path,
            server.url,
            EARMARK_MODEL=str(tmp_path / "no-model"),
            EARMARK_LOCAL_ROOTS=f"{tmp_path / 'audio'}:{tmp_path / 'gone'}",
            EARMARK_RESULTS_URL=(blocker / "results").as_uri(),
            EARMARK_METRICS_PORT=str(taken.getsockname()[1]),
        )
        done = earmark("doctor", **env)
        taken.close()
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    wrong = [line for line in out.splitlines() if line.startswith("wrong")]
    for said in (
        "allkeys-lru", "no append-only file", "the model does not load", "/gone is no readable",
        "cannot be written", "is taken",
    ):  # fmt: skip
        assert any(said in line for line in wrong), (said, out)
    big = earmark("doctor", "--expect-jobs-per-day", "1000000", **_env(tmp_path, redis_url))
    assert any(
        "raise maxmemory" in line or "no maxmemory" in line for line in big.stdout.splitlines()
    )


def test_an_unreachable_redis_is_exit_3(earmark: Earmark, tmp_path: Path) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    done = earmark("doctor", **_env(tmp_path, down))
    assert done.returncode == 3, done.stdout + done.stderr
    assert _levels(done.stdout)[0] == "unreachable"
