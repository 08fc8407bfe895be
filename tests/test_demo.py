"""The README's main command: the whole system on the bundled model, with the right words."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.worker
def test_the_demo_hears_every_sample_word(redis_url: str) -> None:
    """Given the bundled samples, the demo (Redis, a worker, a batch) prints each right word."""
    env = {**os.environ, "EARMARK_BROKER_URL": redis_url, "COLUMNS": "120"}
    for name in ("EARMARK_MODEL", "EARMARK_DTYPE", "EARMARK_RESULTS_URL"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "scripts.demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    words = sorted(p.stem for p in (ROOT / "samples").glob("*.wav"))
    assert len(words) == 10
    for word in words:
        assert f"│ {word}.wav" in done.stdout
    assert done.stdout.count("✓") == 10, done.stdout
    # then the README's quick start, the commands to run the same on one's own files
    assert "earmark enqueue --dir ~/audio" in done.stdout, done.stdout
