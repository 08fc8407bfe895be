"""The README's quick start, followed as written: a fresh clone, a fresh virtualenv, a Redis, a
worker on the bundled model, a folder of the user's audio outside the clone, and every record ok;
then, in that virtualenv and outside the clone, ``from worker import pipeline`` after every
worker module was imported (tests/test_imports.py runs the same from the checkout).

The clone is of the checkout's HEAD (commit first). The blocks run in order in one bash, as a
user pastes them into one terminal; the harness around them only moves the Redis off 6390 to a
free port, points `~` at a scratch home holding `~/audio`, and stops what they started. Then
`make demo` runs in the same clone, on the worker-only virtualenv the quick start made.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from scripts.doc_blocks import ROOT, quick_start
from scripts.processes import free_port
from tests.tools import require_tool
from tests.venvs import use_after_every_import

#: The port the README's quick start gives its Redis.
README_PORT = "6390"
#: Seconds for the whole quick start, the install from the package index included.
QUICK_START_TIMEOUT_S = 900
#: The user's clips: (name, seconds, sample rate, channels), in the formats the README names.
CLIPS = [
    ("tone.wav", 1.0, 16_000, 1),
    ("stereo.wav", 1.5, 44_100, 2),
    ("chirp.flac", 0.8, 22_050, 1),
    ("noise.ogg", 1.2, 48_000, 2),
    ("long.wav", 4.0, 8_000, 1),
]


def write_clips(folder: Path) -> list[Path]:
    """The user's folder: short tones and noise in WAV, FLAC and OGG at several rates."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(23)
    paths = []
    for name, seconds, rate, channels in CLIPS:
        t = np.arange(int(seconds * rate)) / rate
        wave = 0.3 * np.sin(2 * np.pi * (220 + 400 * t) * t) + 0.05 * rng.standard_normal(t.size)
        samples = np.repeat(wave[:, None], channels, axis=1).astype(np.float32)
        soundfile.write(folder / name, samples, rate)
        paths.append(folder / name)
    return paths


def fresh_clone(dest: Path) -> Path:
    """A clone of this checkout's HEAD."""
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(ROOT), str(dest)], check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", head], check=True)
    return dest


def user_environment(home: Path) -> dict[str, str]:
    """A shell's environment without this test's virtualenv, settings or checkout on it, the
    interpreter the virtualenv came from first on PATH, `~` the scratch home."""
    venv = Path(sys.prefix)
    paths = [p for p in os.environ.get("PATH", "").split(os.pathsep) if not p.startswith(str(venv))]
    base = Path(getattr(sys, "_base_executable", sys.executable)).parent
    keep = ("EARMARK_", "AWS_", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(keep)}
    env |= {"PATH": os.pathsep.join([str(base), *paths]), "HOME": str(home), "TERM": "dumb"}
    pip_cache = Path.home() / ".cache" / "pip"
    if pip_cache.is_dir():
        env["PIP_CACHE_DIR"] = str(pip_cache)
    return env


def quick_start_script(port: int) -> str:
    """The README's quick-start blocks in order, the Redis on `port`, a mark before each block,
    and a trap that stops the worker and the Redis they start."""
    lines = [
        "set -euo pipefail",
        f"stop() {{ kill $(jobs -p) 2>/dev/null || true; wait || true;"
        f" redis-cli -p {port} shutdown nosave >/dev/null 2>&1 || true; }}",
        "trap stop EXIT",
    ]
    for number, block in enumerate(quick_start(), 1):
        lines += [f'echo "::block {number} $SECONDS s"', block.text.replace(README_PORT, str(port))]
    lines.append('echo "::end $SECONDS s"')
    return "\n".join(lines) + "\n"


def run_bash(script: str, clone: Path, env: dict[str, str], timeout: float) -> str:
    """`script` in bash in `clone`, in a session of its own that is killed whatever happens; its
    output, asserting it exited 0."""
    process = subprocess.Popen(
        ["bash", "-c", script],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait()
    log = clone / "worker.log"
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    assert process.returncode == 0, f"{output[-6000:]}\nworker.log:\n{tail}"
    return output


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.timeout(QUICK_START_TIMEOUT_S + 300)
def test_the_quick_start_from_a_fresh_clone(tmp_path: Path) -> None:
    """Given a fresh clone and a folder of clips outside it, the README's quick start, as
    written, labels every clip ok and writes the report; `make demo` then runs on its venv."""
    require_tool("git", package="git")
    require_tool("redis-server", package="redis-server")
    require_tool("redis-cli", package="redis-tools")
    started = time.monotonic()
    clone = fresh_clone(tmp_path / "earmark")
    clips = write_clips(tmp_path / "home" / "audio")
    env = user_environment(tmp_path / "home")
    output = run_bash(quick_start_script(free_port()), clone, env, QUICK_START_TIMEOUT_S)
    print(f"quick start from a fresh clone: {time.monotonic() - started:.0f} s\n{output}")
    records = [json.loads(line) for line in (clone / "results.jsonl").read_text().splitlines()]
    assert sorted(Path(r["input"]).name for r in records) == sorted(p.name for p in clips)
    assert [r for r in records if r["status"] != "ok"] == []
    assert "<svg" in (clone / "report.html").read_text()
    # The quick start's venv is a fresh `earmark[worker]` install: run from outside the clone,
    # `from worker import pipeline` is the function after every worker module was imported.
    use_after_every_import(clone / ".venv" / "bin" / "python", tmp_path)
    assert_the_demo_runs_lean(clone, env)


def assert_the_demo_runs_lean(clone: Path, env: dict[str, str]) -> None:
    """`make demo` on the quick start's worker-only .venv: no test tools installed, every word."""
    require_tool("make", package="make")
    lean = subprocess.run(
        [str(clone / ".venv" / "bin" / "python"), "-c", "import pytest"], capture_output=True
    )
    assert lean.returncode != 0, "the quick start's venv has the dev tools"
    started = time.monotonic()
    done = subprocess.run(
        ["make", "demo"], cwd=clone, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert done.stdout.count("✓") == 10, done.stdout
    print(f"make demo after it: {time.monotonic() - started:.0f} s")
    shutil.rmtree(clone / ".venv", ignore_errors=True)
