"""`earmark fetch-model`: huggingface_hub's real download code against a FAKE Hub (tests/fake_hub).

huggingface_hub reads ``HF_ENDPOINT`` when it is imported, so every command runs in a child
process pointed at the fake Hub, with an empty ``HF_HOME`` of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.processes import free_port
from tests.fake_hub import MAIN_COMMIT, REPO_ID, V1_COMMIT, FakeHub, fake_hub
from tests.models import GOLDEN_AUDIO, model_dir
from tests.workers import run_earmark, start_worker

pytestmark = pytest.mark.slow

#: What a q8 worker needs, and all that fetch-model may download for it.
Q8_FILES = ["config.json", "preprocessor_config.json", "onnx/model_quantized.onnx"]


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    """A fake Hub serving the tiny wav2vec2 as `REPO_ID`."""
    with fake_hub(model_dir("wav2vec2")) as running:
        yield running


def _hub_env(home: Path, endpoint: str, **extra: str) -> dict[str, str]:
    return {"HF_HOME": str(home), "HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "0", **extra}


def _fetch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_earmark(env, "fetch-model", "--model", REPO_ID, *args, timeout=60)


def test_fetch_model_downloads_only_what_the_dtype_needs_and_a_worker_runs_offline_on_it(
    hub: FakeHub, tmp_path: Path
) -> None:
    """Given an empty cache, fetch-model pulls the q8 files of main; with them, fetch-model
    succeeds while the Hub is down and classify runs offline."""
    done = _fetch(_hub_env(tmp_path, hub.endpoint), "--dtype", "q8")
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout)
    assert (line["revision"], line["files"]) == (MAIN_COMMIT, Q8_FILES)
    assert sorted(hub.downloads()) == sorted(Q8_FILES)
    assert not any(r.path == "onnx/model.onnx" for r in hub.requests)  # fp32's file: untouched
    snapshot = Path(line["folder"])
    assert snapshot == tmp_path / "hub/models--earmark-test--tiny-ks/snapshots" / MAIN_COMMIT
    for name in Q8_FILES:
        source = model_dir("wav2vec2") / name
        assert (snapshot / name).read_bytes() == source.read_bytes(), name

    # A restart while the Hub is down finds main's files in the cache, without waiting on it.
    down = f"http://127.0.0.1:{free_port()}"
    again = _fetch(_hub_env(tmp_path, down), "--dtype", "q8")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["revision"] == MAIN_COMMIT
    assert "Retrying" not in again.stderr  # the remembered 404 of the _data probe included

    clip = str(sorted(GOLDEN_AUDIO.glob("*.wav"))[0])
    offline = {"HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    env = {**offline, "EARMARK_LOCAL_ROOTS": str(GOLDEN_AUDIO)}
    classified = run_earmark(env, "classify", clip, "--model", REPO_ID, "--dtype", "q8")
    assert classified.returncode == 0, classified.stderr
    record = json.loads(classified.stdout)
    assert record["model"] == {"id": REPO_ID, "revision": MAIN_COMMIT, "dtype": "q8"}


def test_revision_pins_the_commit_and_the_token_is_sent(tmp_path: Path) -> None:
    """A private repository: refused without HF_TOKEN, served at the pinned tag with it."""
    with fake_hub(model_dir("wav2vec2"), token="hf_test_secret") as hub:
        refused = _fetch(_hub_env(tmp_path / "a", hub.endpoint), "--revision", "v1")
        env = _hub_env(tmp_path / "b", hub.endpoint, HF_TOKEN="hf_test_secret")
        done = _fetch(env, "--revision", "v1", "--dtype", "fp32")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"earmark: cannot fetch config.json of {REPO_ID}@v1: "
        "no such repository, or HF_TOKEN may not read it"
    ]
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout)
    assert line["revision"] == V1_COMMIT
    config = json.loads((Path(line["folder"]) / "config.json").read_text())
    assert config["earmark_revision"] == "v1"
    served = [r for r in hub.requests if r.status == 200]
    assert served and {r.authorization for r in served} == {"Bearer hf_test_secret"}


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (("--revision", "v9"), f"config.json of {REPO_ID}@v9: the Hub has no revision 'v9'"),
        (("--dtype", "fp16"), f"onnx/model_fp16.onnx of {REPO_ID}@main: the repository has no"),
    ],
)
def test_a_hub_that_answers_404_is_one_clear_error(
    hub: FakeHub, tmp_path: Path, args: tuple[str, ...], why: str
) -> None:
    done = _fetch(_hub_env(tmp_path, hub.endpoint), *args)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"earmark: cannot fetch {why}"), line


@pytest.mark.worker
def test_a_hub_that_is_down_is_one_clear_error_and_the_worker_exits(
    tmp_path: Path, redis_url: str
) -> None:
    """huggingface_hub retries a Hub it cannot reach for about 23 s, then one line says why: from
    fetch-model, exit 2; from a worker, whose pool child never counts as loaded, exit 2 too, by
    itself (before, it stayed up never ready until a SIGTERM, which it answered with 0, so no
    supervisor saw a failure). Both run at once, so the test waits out the retries once."""
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {
        **_hub_env(tmp_path / "worker", down),
        "EARMARK_BROKER_URL": redis_url,
        "EARMARK_RESULTS_URL": redis_url.rsplit("/", 1)[0] + "/1",
        "EARMARK_MODEL": REPO_ID,
        "EARMARK_METRICS_PORT": "0",
    }
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        done = _fetch(_hub_env(tmp_path / "fetch", down))
        why = f"cannot fetch config.json of {REPO_ID}@main: the Hub at {down} cannot be reached"
        stopped = worker.process.wait(timeout=90)
    finally:
        if worker.process.poll() is None:
            os.killpg(worker.process.pid, signal.SIGKILL)
            worker.process.wait()
    log = worker.log.read_text(errors="replace")
    assert stopped == 2, log[-3000:]
    assert f"earmark: cannot load the model: {why}" in log
    assert "earmark: ready" not in log
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == f"earmark: {why} and the cache (HF_HOME) lacks it"
    # Above it only huggingface_hub's own "Retrying in 1s [Retry 1/5]" lines; no traceback.
    assert [line for line in lines if line.startswith("earmark")] == lines[-1:]
    assert "Traceback" not in done.stderr
