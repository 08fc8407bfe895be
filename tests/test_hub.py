"""Model files: local folders, the Hub cache offline, and clear errors for broken folders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from producer.errors import ModelError
from producer.settings import Settings
from tests.models import GOLDEN_AUDIO, model_dir
from worker.classification import pipeline
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


#: Model references that read as folders (resolve_model's rule), none of which exists.
MISSING_FOLDERS = [
    "/models/wav2vec2-bse",  # absolute: was HFValidationError's advice on repo ids
    "./models/typo",
    "../models/typo",
    "~/earmark-no-such-model",
    "models/typo",  # under the folder `models/` of the working folder: was 24 s of Hub retries
    "deep/er/typo",  # more slashes than a Hub id has
]


@pytest.mark.parametrize("model", MISSING_FOLDERS)
def test_a_missing_model_folder_is_named_at_once(
    model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given EARMARK_MODEL naming a folder that is not there, building the pipeline fails at
    once with one line naming the folder and the setting, asking no Hub."""
    (tmp_path / "models").mkdir()
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    with pytest.raises(ModelError) as raised:
        pipeline(settings=Settings(model=model))
    assert str(raised.value) == f"no such model folder: {model} (EARMARK_MODEL)"
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("model", ["typo", "bad id!", "-lead/dash", "a--b/c"])
def test_a_reference_that_is_neither_a_hub_id_nor_a_folder_fails_at_once(
    model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    with pytest.raises(ModelError) as raised:
        resolve_model(model, setting="EARMARK_MODEL")
    expected = f"not a Hugging Face model id (owner/name) nor a folder: {model} (EARMARK_MODEL)"
    assert str(raised.value) == expected
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("lacking", ["config.json", "preprocessor_config.json"])
def test_a_model_folder_without_a_file_names_the_file(lacking: str, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(model_dir("wav2vec2"), folder)
    (folder / lacking).unlink()
    with pytest.raises(ModelError, match=rf"^model folder {folder} lacks {lacking}$"):
        resolve_model(str(folder), dtype="fp32")


def test_a_folder_without_the_dtypes_graph_names_the_dtype(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(model_dir("wav2vec2"), folder)
    with pytest.raises(ModelError) as raised:
        resolve_model(str(folder), dtype="fp16", setting="EARMARK_MODEL")
    assert str(raised.value) == (
        f"model folder {folder} (EARMARK_MODEL) lacks onnx/model_fp16.onnx"
        " (dtype fp16 reads onnx/model_fp16.onnx; EARMARK_DTYPE)"
    )


@pytest.mark.parametrize("model", ["typo", "./models/typo"])
@pytest.mark.parametrize("given", ["--model", "EARMARK_MODEL"])
def test_classify_with_a_model_that_cannot_load_is_a_usage_error(
    model: str, given: str, tmp_path: Path
) -> None:
    """`earmark classify --model typo` exits 2 with one line on stderr, in seconds; the line
    names EARMARK_MODEL only where the model came from it."""
    clip = sorted(GOLDEN_AUDIO.glob("*.wav"))[0]
    flags = ["--model", model] if given == "--model" else []
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    env |= {"EARMARK_MODEL": model} if given == "EARMARK_MODEL" else {}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "producer.cli", "classify", str(clip), *flags],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    suffix = " (EARMARK_MODEL)" if given == "EARMARK_MODEL" else ""
    assert line.startswith("earmark: ") and line.endswith(f": {model}{suffix}"), line
    assert time.monotonic() - started < 20
