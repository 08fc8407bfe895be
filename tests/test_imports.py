"""One public import surface: ``from worker import pipeline`` is the function and
``from producer import Client`` the client, whatever was imported before, from the checkout and
from a fresh install; importing ``worker`` alone loads no model runtime."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.models import GOLDEN_AUDIO, model_dir
from tests.venvs import ROOT, fresh_venv

#: Heavy modules ``import worker`` must not load: the Celery app imports it before forking.
HEAVY = ("onnxruntime", "numpy", "av")

#: Imports every submodule of `worker` first (which once made ``worker.pipeline`` the module),
#: then uses the documented API on a committed model. argv: model folder, clip.
USE_AFTER_EVERY_IMPORT = textwrap.dedent(
    """
    import importlib, pkgutil, sys, types
    import worker

    for info in pkgutil.walk_packages(worker.__path__, "worker."):
        importlib.import_module(info.name)
    from worker import pipeline

    assert not isinstance(pipeline, types.ModuleType), pipeline
    classify = pipeline("audio-classification", sys.argv[1], dtype="fp32")
    from worker import AudioClassificationPipeline

    assert isinstance(classify, AudioClassificationPipeline)
    print(classify(sys.argv[2])["label"])
    """
)


def _clean_env(**settings: str) -> dict[str, str]:
    """The environment without earmark's settings or the test run's virtualenv, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EARMARK_", "VIRTUAL_ENV"))}
    return env | {"HF_HUB_OFFLINE": "1"} | settings


@pytest.mark.parametrize("package", ["producer", "worker"])
def test_no_submodule_is_named_like_an_export(package: str) -> None:
    """A submodule named like a name in ``__all__`` replaces it once imported (issue #23)."""
    exports = set(__import__(package).__all__)
    submodules = {path.stem for path in (ROOT / package).iterdir() if path.suffix == ".py"}
    submodules |= {path.name for path in (ROOT / package).iterdir() if path.is_dir()}
    assert not exports & submodules


def test_importing_worker_loads_no_model_runtime() -> None:
    code = f"import sys, worker; sys.exit(sorted(set({HEAVY!r}) & set(sys.modules)) or 0)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _use_after_every_import(python: Path | str, cwd: Path) -> None:
    """Runs `USE_AFTER_EVERY_IMPORT` with `python`, in `cwd`, on a clip of the committed model."""
    clip = GOLDEN_AUDIO / "tone_440hz_1000ms.wav"
    done = subprocess.run(
        [str(python), "-c", USE_AFTER_EVERY_IMPORT, str(model_dir("wav2vec2")), str(clip)],
        capture_output=True,
        text=True,
        env=_clean_env(EARMARK_LOCAL_ROOTS=str(GOLDEN_AUDIO)),
        cwd=cwd,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip()


def test_from_worker_import_pipeline_after_importing_every_submodule() -> None:
    """Given every worker module imported, ``pipeline("audio-classification", …)`` still builds
    and classifies (before: ``TypeError: 'module' object is not callable``)."""
    _use_after_every_import(sys.executable, ROOT)


@pytest.mark.slow
def test_from_worker_import_pipeline_in_a_fresh_worker_venv(tmp_path: Path) -> None:
    """The same from `pip install "earmark[worker]"` into a clean virtualenv, run outside the
    checkout so that only the installed package can be imported."""
    bin_folder = fresh_venv(tmp_path / "venv", "[worker]")
    _use_after_every_import(bin_folder / "python", tmp_path)
