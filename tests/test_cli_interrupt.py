"""SIGINT and SIGTERM during `earmark enqueue` (producer/cli/interrupt.py): in a child process,
the only place a signal reaches the command as a user's would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis


def _env(redis_url: str, **more: str) -> dict[str, str]:
    return {"EARMARK_BROKER_URL": redis_url, "EARMARK_RESULTS_URL": redis_url, **more}


@pytest.mark.process
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_enqueue_prints_what_it_sent(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, signum: int, code: int
) -> None:
    """Given a 40,000-line manifest queued one message a reference, a signal once the first
    group is out: {"batch_id", "jobs"} on stdout, and "jobs" is exactly what the ledger
    reserved and the queue holds (before, Ctrl-C exited 130 with nothing on stdout while Redis
    held thousands of jobs, and SIGTERM could stop between a reservation and its messages)."""
    manifest = tmp_path / "big.txt"
    manifest.write_text("".join(f"/data/clip{n}.wav\n" for n in range(40_000)))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EARMARK_")}
    command = [sys.executable, "-m", "producer.cli", "enqueue", "--manifest", str(manifest)]
    process = subprocess.Popen(
        [*command, "--batch-id", "big", "--interactive"],
        env={**clean, **_env(redis_url)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not redis_client.llen("earmark.interactive") and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    said = json.loads(out)
    total = int(redis_client.hget("earmark:batch:big", "total") or 0)
    assert said["batch_id"] == "big" and 0 < said["jobs"] < 40_000, (said, err)
    assert said["jobs"] == total == redis_client.llen("earmark.interactive")
    assert redis_client.hlen("earmark:outstanding:big") == total
    (line,) = err.splitlines()
    assert line == f"earmark: interrupted ({signal.Signals(signum).name})"
