"""Fresh virtualenvs with earmark installed from the checkout, as a user's `pip install` makes.

A test run there (with a working folder outside the checkout) imports only what was installed:
a module left out of the wheel, or an import that works only from the source tree, fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.models import GOLDEN_AUDIO, model_dir

ROOT = Path(__file__).resolve().parent.parent


def fresh_venv(folder: Path, extras: str = "") -> Path:
    """A new virtualenv in `folder` with ``earmark{extras}`` pip-installed from the checkout
    (``extras`` like ``"[worker]"``); its ``bin/`` folder."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=120)
    install = subprocess.run(
        [str(folder / "bin" / "pip"), "install", "-q", f"{ROOT}{extras}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return folder / "bin"


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


def clean_env(**settings: str) -> dict[str, str]:
    """The environment without earmark's settings or the test run's virtualenv, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EARMARK_", "VIRTUAL_ENV"))}
    return env | {"HF_HUB_OFFLINE": "1"} | settings


def use_after_every_import(python: Path | str, cwd: Path) -> None:
    """Runs `USE_AFTER_EVERY_IMPORT` with `python`, in `cwd`, on a clip of the committed model."""
    clip = GOLDEN_AUDIO / "tone_440hz_1000ms.wav"
    done = subprocess.run(
        [str(python), "-c", USE_AFTER_EVERY_IMPORT, str(model_dir("wav2vec2")), str(clip)],
        capture_output=True,
        text=True,
        env=clean_env(EARMARK_LOCAL_ROOTS=str(GOLDEN_AUDIO)),
        cwd=cwd,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip()
