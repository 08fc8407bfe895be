"""Model files: local folders, the Hub cache offline, and clear errors for broken folders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from producer.errors import ModelError
from tests.models import GOLDEN_AUDIO, model_dir
from worker.hub import resolve_model


def test_local_folder_resolves_each_dtype() -> None:
    for dtype, name in (("fp32", "model.onnx"), ("q8", "model_quantized.onnx")):
        files = resolve_model(str(model_dir("wav2vec2")), dtype=dtype)  # type: ignore[arg-type]
        assert files.onnx_path.name == name
        assert files.config["id2label"]
        assert files.preprocessor["feature_extractor_type"] == "Wav2Vec2FeatureExtractor"


def test_missing_onnx_file_is_a_model_error(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    shutil.copytree(model_dir("wav2vec2"), folder)
    with pytest.raises(ModelError, match=r"model_fp16\.onnx"):
        resolve_model(str(folder), dtype="fp16")


def test_unreadable_config_is_a_model_error(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    shutil.copytree(model_dir("wav2vec2"), folder)
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelError, match="not a JSON object"):
        resolve_model(str(folder), dtype="fp32")


def test_unknown_repo_offline_is_a_model_error(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    code = "from worker.hub import resolve_model; resolve_model('nobody/nothing')"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert (
        "ModelError: cannot fetch config.json of nobody/nothing@main: HF_HUB_OFFLINE is set"
        in done.stderr
    )


def _fill_hub_cache(home: Path, repo: str, revision: str, source: Path) -> None:
    """Lay a model out as huggingface_hub caches it: blobs behind a commit-named snapshot."""
    folder = home / "hub" / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / revision
    shutil.copytree(source, snapshot)
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(revision)


def test_hub_repo_id_runs_offline_from_the_cache(tmp_path: Path) -> None:
    """Given a Hub cache holding a model, `earmark classify --model org/name` uses it offline."""
    revision = "0123456789abcdef0123456789abcdef01234567"
    _fill_hub_cache(tmp_path, "Xenova/tiny-ks", revision, model_dir("wav2vec2"))
    clip = sorted(GOLDEN_AUDIO.glob("*.wav"))[0]
    env = {
        **os.environ,
        "HF_HOME": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "EARMARK_LOCAL_ROOTS": str(GOLDEN_AUDIO),
    }
    command = [sys.executable, "-m", "producer.cli", "classify", str(clip)]
    done = subprocess.run(
        [*command, "--model", "Xenova/tiny-ks", "--dtype", "fp32"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["status"] == "ok"
    assert record["model"] == {"id": "Xenova/tiny-ks", "revision": revision, "dtype": "fp32"}
