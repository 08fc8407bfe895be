"""EARMARK_MAX_CALL_MB: one long clip's model call is estimated from the model's config, and a
clip over the bound gets a too_large record instead of taking the process out of memory; its
batch-mates, and the same clip cut into windows, are labeled as before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from producer.errors import TooLarge
from tests.models import FAMILIES, model_dir
from tests.workers import WorkerProcess, client_for, start_worker, worker_env
from worker.classifier import Classifier
from worker.hub import resolve_model

#: A bound that the tiny wav2vec2 (800 frames a second, 2 heads) reaches at 1.5 s.
SMALL_MB = 50

#: Peak resident growth of one model call on a clip of argv[2] seconds, in a fresh process.
MEASURE = """
import os, sys, threading, time
import numpy as np
from worker.classifier import Classifier
from worker.hub import resolve_model

classifier = Classifier(resolve_model(sys.argv[1], dtype="fp32"))
rng = np.random.default_rng(0)
classifier.infer([rng.standard_normal(16000).astype(np.float32)], 1)  # warm: first calls allocate
clip = 0.1 * rng.standard_normal(int(float(sys.argv[2]) * 16000)).astype(np.float32)
page, peak, done = os.sysconf("SC_PAGE_SIZE"), [0], threading.Event()

def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page

def sample():
    while not done.is_set():
        peak[0] = max(peak[0], resident())
        time.sleep(0.002)

before = resident()
sampler = threading.Thread(target=sample)
sampler.start()
classifier.infer([clip], 1)
done.set()
sampler.join()
print(peak[0] - before)
"""


def _classifier(name: str, max_call_mb: int) -> Classifier:
    return Classifier(resolve_model(str(model_dir(name)), dtype="fp32"), max_call_mb=max_call_mb)


def test_the_estimate_bounds_a_measured_call_from_above() -> None:
    """The tiny wav2vec2 on 5 s (4,000 frames): a real call's peak is under the estimate, and
    not far under it (measured 255 MB against 538 MB)."""
    bound = _classifier("wav2vec2", 0).call_bound
    assert bound.memory is not None
    estimate = bound.memory.estimate(5 * 16000)
    command = [sys.executable, "-c", MEASURE, str(model_dir("wav2vec2")), "5"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    measured = int(done.stdout)
    assert estimate / 4 <= measured <= estimate, (measured, estimate)


def test_the_longest_clip_is_the_last_within_the_bound() -> None:
    bound = _classifier("wav2vec2", SMALL_MB).call_bound
    assert bound.memory is not None and bound.longest_seconds is not None
    longest = bound.memory.longest(SMALL_MB * 1e6)
    assert bound.memory.estimate(longest) <= SMALL_MB * 1e6 < bound.memory.estimate(longest + 1)
    assert 1.0 < bound.longest_seconds < 2.0  # 1.5 s on this model
    bound.check(longest)
    with pytest.raises(TooLarge, match="EARMARK_MAX_CALL_MB is 50"):
        bound.check(longest + 1)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_has_a_bound_or_a_fixed_length(family: str) -> None:
    """Families whose input length varies get a bound; AST and Whisper take one length."""
    classifier = _classifier(family, SMALL_MB)
    fixed = classifier.extractor.fixed_length
    assert (classifier.call_bound.longest_seconds is None) == fixed, family


def test_a_clip_over_the_bound_fails_alone_and_windows_still_label_it(tmp_path: Path) -> None:
    """`earmark classify`: 1 s labeled, 3 s too_large; with 1 s windows the 3 s clip labels."""
    rng = np.random.default_rng(5)
    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    sf.write(short, 0.1 * rng.standard_normal(16000), 16000)
    sf.write(long, 0.1 * rng.standard_normal(48000), 16000)
    env = {
        **os.environ,
        "EARMARK_LOCAL_ROOTS": str(tmp_path),
        "EARMARK_MODEL": str(model_dir("wav2vec2")),
        "EARMARK_DTYPE": "fp32",
        "EARMARK_MAX_CALL_MB": str(SMALL_MB),
    }
    whole = _classify(env, str(short), str(long))
    assert [r["status"] for r in whole] == ["ok", "error"]
    assert whole[1]["error"]["code"] == "too_large" and "3.0 s" in whole[1]["error"]["message"]
    (windowed,) = _classify(env, str(long), "--window", "1", "--hop", "1")
    assert windowed["status"] == "ok"


@pytest.mark.worker
@pytest.mark.parametrize("bulk", [False, True], ids=["interactive", "bulk"])
def test_through_the_queue_a_long_clip_fails_alone_and_the_worker_stays(
    redis_url: str,
    tmp_path: Path,
    workers: list[WorkerProcess],
    bulk: bool,
) -> None:
    """A worker with a small bound: the 3 s clip among 1 s clips gets too_large, the others
    their labels, and the same process goes on to the next job."""
    rng = np.random.default_rng(6)
    refs = []
    for index, seconds in enumerate([1, 1, 3, 1, 1]):
        path = tmp_path / f"clip{index}.wav"
        sf.write(path, 0.1 * rng.standard_normal(16000 * seconds), 16000)
        refs.append(str(path))
    extra = {"EARMARK_LOCAL_ROOTS": str(tmp_path), "EARMARK_MAX_CALL_MB": str(SMALL_MB)}
    env = worker_env(redis_url, (tmp_path / "results").as_uri(), extra)
    worker = start_worker(env, tmp_path / "worker.log", "--concurrency", "1")
    workers.append(worker)
    worker.wait_ready()
    client = client_for(env)

    submission = client.submit_many(refs, bulk=bulk)
    records = {r.input: r for r in client.iter_results(submission.batch_id, wait=True, timeout=120)}
    assert [records[ref].status for ref in refs] == ["ok", "ok", "error", "ok", "ok"]
    error = records[refs[2]].error
    assert error is not None and error.code == "too_large" and "3.0 s" in error.message
    after = client.submit_many(refs[:1], bulk=bulk)
    (record,) = client.iter_results(after.batch_id, wait=True, timeout=60)
    assert record.status == "ok" and worker.process.poll() is None


def _classify(env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    command = [sys.executable, "-m", "producer.cli", "classify", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]
