"""`earmark results`, `status` and `report` (producer/cli/commands.py, producer/cli/report.py)
on the command line, run in this process: an unknown id exits 5, a wait that nothing ends
exits 4, an unreachable store exits 3, each with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from producer.client import Client
from producer.errors import WaitTimedOut
from producer.settings import Settings
from tests.conftest import Earmark


def _env(redis_url: str, **more: str) -> dict[str, str]:
    return {"EARMARK_BROKER_URL": redis_url, "EARMARK_RESULTS_URL": redis_url, **more}


def test_an_unreachable_redis_exits_3_with_one_line(earmark: Earmark) -> None:
    """Given no Redis at the configured URL, a producer command says so in one line, exit 3."""
    down = "redis://127.0.0.1:1/0"
    done = earmark("status", "nightly", EARMARK_BROKER_URL=down, EARMARK_RESULTS_URL=down)
    assert done.returncode == 3
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("earmark: ") and "127.0.0.1:1" in line


@pytest.mark.slow
def test_waits_without_a_worker_time_out_with_exit_4(earmark: Earmark, redis_url: str) -> None:
    """Given no worker, each waiting command stops at its --timeout with exit 4 and one line
    (before, `enqueue --wait` hung for ever and `results --wait --timeout` exited 0)."""
    env = _env(redis_url)
    queued = earmark("enqueue", "/a.wav", "--batch-id", "nobody", "--wait", "--timeout", "2", **env)
    assert queued.returncode == 4, queued.stderr
    assert json.loads(queued.stdout) == {"batch_id": "nobody", "jobs": 1}
    assert "1 of 1 jobs still pending after 2 s" in queued.stderr
    for args in (
        ("results", "nobody", "--wait", "--timeout", "1"),
        ("results", "nobody:0", "--wait", "--timeout", "1"),
        ("status", "nobody", "--watch", "--timeout", "1"),
    ):
        done = earmark(*args, **env)
        assert done.returncode == 4, (args, done.stderr)
        (line,) = done.stderr.splitlines()
        assert line.startswith("earmark: ") and "nobody" in line
    watched = earmark("status", "nobody", "--watch", "--timeout", "1", **env)
    assert json.loads(watched.stdout.splitlines()[0])["pending"] == 1


def test_a_wait_that_sees_nothing_finish_says_so(redis_url: str, redis_client: object) -> None:
    """While jobs are pending and none finishes, the watcher says so every quiet stretch."""
    client = Client(Settings(broker_url=redis_url, results_url=redis_url))
    batch = client.submit_many(["a.wav", "b.wav"], bulk=False).batch_id
    told: list[tuple[int | None, float]] = []
    watch = client.watch(
        batch, timeout=1.6, on_stall=lambda s, quiet: told.append((s.pending, quiet))
    )
    watch.stall_s = 0.5
    with pytest.raises(WaitTimedOut, match="2 of 2 jobs still pending"):
        list(watch.records())
    assert len(told) >= 2 and all(pending == 2 and quiet >= 0.5 for pending, quiet in told)


UNKNOWN_READS = [
    ("results", "nosuch"),
    ("results", "nosuch:0"),
    ("results", "nosuch", "--wait"),
    ("results", "nosuch:0", "--wait"),
    ("results", "nosuch", "--wait", "--timeout", "30"),
    ("status", "nosuch"),
    ("status", "nosuch", "--watch"),
    ("status", "nosuch", "--watch", "--timeout", "30"),
    ("report", "nosuch"),
    ("report", "nosuch", "--json"),
    ("report", "nosuch", "--html", "{tmp}/r.html"),
]


@pytest.mark.parametrize("args", UNKNOWN_READS, ids=[" ".join(a) for a in UNKNOWN_READS])
def test_an_unknown_id_exits_5_on_every_read_command(
    earmark: Earmark,
    redis_url: str,
    redis_client: redis.Redis,
    tmp_path: Path,
    args: tuple[str, ...],
) -> None:
    """Before: `results` printed nothing and exited 0, `status` said pending null, `report` an
    empty report, and `--wait`/`--watch` waited for ever."""
    args = tuple(arg.format(tmp=tmp_path) for arg in args)
    done = earmark(*args, **_env(redis_url))
    assert done.returncode == 5, done
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "nothing is known under that" in line and "(a typo, or expired)" in line
    assert not (tmp_path / "r.html").exists()


def test_a_batch_just_queued_is_known_and_a_job_past_its_end_is_not(
    earmark: Earmark, redis_url: str, redis_client: redis.Redis
) -> None:
    """Catches a fresh batch read as unknown, a pending job as finished, or a job id past the
    batch's end waited on."""
    env = _env(redis_url)
    assert earmark("enqueue", "/a.wav", "/b.wav", "--batch-id", "fresh", **env).returncode == 0
    status = earmark("status", "fresh", **env)
    assert status.returncode == 0 and json.loads(status.stdout)["pending"] == 2
    assert earmark("results", "fresh", **env).returncode == 0
    assert earmark("report", "fresh", "--json", **env).returncode == 0
    pending = earmark("results", "fresh:1", **env)
    assert pending.returncode == 1 and "no result for fresh:1 yet" in pending.stderr
    past = earmark("results", "fresh:2", "--wait", **env)
    assert past.returncode == 5 and "fresh:0 to fresh:1" in past.stderr
