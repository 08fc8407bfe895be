"""One public import surface: ``from worker import pipeline`` is the function and
``from producer import Client`` the client, whatever was imported before, from the checkout and
from a fresh install; importing ``worker`` alone loads no model runtime."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.venvs import ROOT, use_after_every_import

#: Heavy modules ``import worker`` must not load: the Celery app imports it before forking.
HEAVY = ("onnxruntime", "numpy", "av")


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


def test_from_worker_import_pipeline_after_importing_every_submodule() -> None:
    """Given every worker module imported, ``pipeline("audio-classification", …)`` still builds
    and classifies (before: ``TypeError: 'module' object is not callable``)."""
    use_after_every_import(sys.executable, ROOT)
