"""Progress while waiting: `status --watch` and `enqueue --wait` draw a live bar on a terminal (a
real pseudo-terminal here) and say plain lines elsewhere; rate and ETA come from the counts."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import threading
import time
from typing import Literal

import pytest
import redis

from producer.cli.progress import PlainLines, Rate, describe_progress, eta_s
from producer.records import ResultRecord
from producer.state.ledger import BatchStatus, Ledger
from tests.models import GOLDEN_AUDIO

pytestmark = pytest.mark.slow


def _status(done: int, total: int = 10, failed: int = 0) -> BatchStatus:
    return BatchStatus(batch_id="b", total=total, done=done, failed=failed, pending=total - done)


def test_the_rate_is_jobs_finished_over_the_window_and_the_eta_follows() -> None:
    rate = Rate(window_s=10.0)
    assert rate.update(0, now=100.0) is None  # one sample says nothing about a rate
    assert rate.update(4, now=102.0) == 2.0
    assert rate.update(6, now=104.0) == 1.5
    # Samples older than the window fall out: 20 jobs in the last 10 s.
    assert rate.update(26, now=114.0) == 2.0
    assert eta_s(_status(done=6), 2.0) == 2.0
    assert eta_s(_status(done=10), None) == 0.0
    assert eta_s(_status(done=6), None) is None
    line = describe_progress(_status(done=6, failed=1), 2.0)
    assert line == "batch b: 6/10 done, 1 failed, 4 pending, 2.0 jobs/s, ETA 0:02"


def test_plain_lines_are_throttled_but_the_last_is_always_said() -> None:
    out = io.StringIO()
    lines = PlainLines(out, every_s=3600)
    for done in (1, 2, 3, 10):
        lines.update(_status(done=done))
    said = out.getvalue().splitlines()
    assert len(said) == 2
    assert said[0].startswith("earmark: batch b: 1/10 done")
    assert said[1].startswith("earmark: batch b: 10/10 done, 0 failed, 0 pending")


def _in_terminal(env: dict[str, str], *args: str, timeout_s: float = 60) -> tuple[int, str]:
    """Run `earmark ARGS` with a pseudo-terminal as stdin, stdout and stderr; its exit code and
    everything it drew."""
    leader, follower = pty.openpty()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("EARMARK_", "AWS_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "producer.cli", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**clean, "TERM": "xterm-256color", "COLUMNS": "160", **env},
        start_new_session=True,
    )
    os.close(follower)
    drawn, deadline = bytearray(), time.monotonic() + timeout_s
    poller = select.poll()  # not select(): it fails on descriptors past 1024
    poller.register(leader, select.POLLIN)
    try:
        while time.monotonic() < deadline:
            if poller.poll(200):
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                drawn += chunk
            elif process.poll() is not None:
                break
        return process.wait(timeout=10), drawn.decode(errors="replace")
    finally:
        process.kill()
        os.close(leader)


def _finish_slowly(client: redis.Redis, batch: str, jobs: int, every_s: float) -> None:
    ledger = Ledger(client)
    for index in range(jobs):
        time.sleep(every_s)
        status: Literal["ok", "error"] = "error" if index == 0 else "ok"
        ledger.finish(
            [ResultRecord(job_id=f"{batch}:{index}", batch_id=batch, input="x", status=status)]
        )


def test_status_watch_draws_a_live_bar_on_a_terminal(redis_url: str, redis_client: redis.Redis):
    """Given 8 jobs finishing one every 0.4 s, the bar counts up with a rate and an ETA, and
    the watch ends with the counters as JSON."""
    Ledger(redis_client).reserve("nightly", 8)
    finisher = threading.Thread(target=_finish_slowly, args=(redis_client, "nightly", 8, 0.4))
    finisher.start()
    env = {"EARMARK_BROKER_URL": redis_url, "EARMARK_RESULTS_URL": redis_url}
    code, drawn = _in_terminal(env, "status", "nightly", "--watch", "--timeout", "60")
    finisher.join()
    assert code == 0, drawn
    assert "\x1b[" in drawn and "━" in drawn  # drawn with terminal escapes, as a bar
    assert "batch nightly" in drawn
    assert re.search(r"[1-7]/8 done, 1 failed, [1-7] pending, [0-9.]+ jobs/s, ETA 0:0\d", drawn)
    assert "8/8 done, 1 failed, 0 pending" in drawn
    assert '"done": 8, "failed": 1, "pending": 0}' in drawn


def test_enqueue_wait_draws_its_bar_and_stops_at_the_timeout(redis_url: str, redis_client):
    """Given no worker, `enqueue --wait` on a terminal shows 0 of 2 done until --timeout: exit 4."""
    clips = sorted(str(p) for p in GOLDEN_AUDIO.glob("*.wav"))[:2]
    env = {
        "EARMARK_BROKER_URL": redis_url,
        "EARMARK_RESULTS_URL": redis_url,
        "EARMARK_LOCAL_ROOTS": str(GOLDEN_AUDIO),
    }
    args = ("enqueue", *clips, "--batch-id", "stuck", "--wait", "--timeout", "1.5")
    code, drawn = _in_terminal(env, *args)
    assert code == 4, drawn
    assert '{"batch_id": "stuck", "jobs": 2}' in drawn
    assert "━" in drawn and "0/2 done, 0 failed, 2 pending" in drawn
    assert "2 of 2 jobs still pending after 1.5 s" in drawn


def test_enqueue_wait_off_a_terminal_says_plain_lines(redis_url: str, redis_client) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EARMARK_")}
    env = {**clean, "EARMARK_BROKER_URL": redis_url, "EARMARK_RESULTS_URL": redis_url}
    command = [sys.executable, "-m", "producer.cli", "enqueue", "/a.wav", "--batch-id", "plain"]
    done = subprocess.run(
        [*command, "--wait", "--timeout", "1"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 4
    assert "\x1b[" not in done.stderr
    first = done.stderr.splitlines()[0]
    assert first == "earmark: batch plain: 0/1 done, 0 failed, 1 pending, - jobs/s, ETA -"
