"""The producer side imports and enqueues where the worker's runtime cannot be imported, and
installs alone into a fresh virtualenv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis

from tests.venvs import clean_env, fresh_venv

#: Modules a producer process must never need.
FORBIDDEN = ("onnxruntime", "librosa", "soundfile", "soxr", "av", "numpy", "worker")


# Counts what lands on the queue: start from an empty server, whatever ran before.
@pytest.mark.usefixtures("redis_client")
def test_producer_enqueues_without_worker_dependencies(redis_url: str) -> None:
    """Given a process where importing onnxruntime or librosa fails, a producer still enqueues."""
    script = textwrap.dedent(
        f"""
        import sys

        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {FORBIDDEN!r}:
                    raise ImportError(f"{{name}} is not installed here")
                return None

        sys.meta_path.insert(0, Refuse())
        from producer import Client  # re-exported, loaded on first use
        from producer.cli import app  # the command line too
        submission = Client().submit_many(["a.wav", "b.wav", "c.wav"], bulk=False)
        job = Client().submit("d.wav")
        print(submission.batch_id, submission.jobs, job)
        """
    )
    env = {**os.environ, "EARMARK_BROKER_URL": redis_url, "EARMARK_RESULTS_URL": redis_url}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    _, jobs, job_id = done.stdout.split()
    assert jobs == "3" and job_id.endswith(":0")
    queued = redis.Redis.from_url(redis_url).llen("earmark.interactive")
    assert queued == 4


@pytest.fixture(scope="module")
def producer_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin/`` of a fresh virtualenv holding `pip install earmark` (no worker extra)."""
    return fresh_venv(tmp_path_factory.mktemp("producer-venv") / "venv")


@pytest.mark.slow
def test_pip_install_earmark_alone_enqueues_from_a_fresh_venv(
    producer_bin: Path, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """Given `pip install earmark` (no worker extra) into a clean virtualenv, `earmark enqueue`
    queues a job there (before, kombu's Redis transport wanted `packaging`, which nothing
    declared, so the producer-only install failed on the first enqueue)."""
    listed = subprocess.run(
        [str(producer_bin / "pip"), "list", "--format=json"], capture_output=True, text=True
    )
    installed = {entry["name"].lower() for entry in json.loads(listed.stdout)}
    assert not installed & {"onnxruntime", "librosa", "soundfile", "soxr", "av", "numpy"}
    env = clean_env(EARMARK_BROKER_URL=redis_url, EARMARK_RESULTS_URL=redis_url)
    done = subprocess.run(
        [str(producer_bin / "earmark"), "enqueue", "/a.wav", "/b.wav", "--interactive"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # not the checkout: only the installed package can be imported
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["jobs"] == 2
    assert redis_client.llen("earmark.interactive") == 2


@pytest.mark.slow
def test_from_producer_import_client_in_a_producer_only_venv(
    producer_bin: Path, tmp_path: Path
) -> None:
    """Given the producer-only install, the package's top level exports the client (issue #23:
    one public import surface), and importing it loads nothing of the worker's."""
    script = textwrap.dedent(
        f"""
        import sys
        from producer import Client
        assert "producer.client" in sys.modules
        assert callable(Client.submit), Client
        loaded = {{name.split(".")[0] for name in sys.modules}} & set({FORBIDDEN!r})
        assert not loaded, loaded
        """
    )
    done = subprocess.run(
        [str(producer_bin / "python"), "-c", script],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
