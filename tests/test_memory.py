"""A worker's memory on long and mixed-length audio (bench/memory.py measures it at length).

The wide model (scripts/wide_model.py) has wav2vec2's full-width front end, whose activations
grow with clips times the longest clip; before the bounds, a pool process reached 4.3 GB on such
a mix and kept it (ONNX Runtime's arena). With the defaults (12 s of padded audio a call, the
arena shrunk after each call, 64 MiB of decoded audio ahead, two malloc arenas) it stays within
a tenth of that: 1.5 x the model file + 360 MB. (Issue 13's goal is + 300 MB; on this worst-case
front end one 12 s clip alone needs about 200 MB of activations: see the README.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.memory import measure, write_mix
from scripts.wide_model import make_wide_model

#: Clips in the run: enough to fill several padded calls of every length.
CLIPS = 48


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wide model and the mix, made once."""
    root = tmp_path_factory.mktemp("memory")
    make_wide_model(root / "wide")
    (root / "clips").mkdir()
    return root


def test_a_pool_process_stays_within_the_goal_on_mixed_lengths(workdir: Path) -> None:
    clips = write_mix(workdir / "clips", CLIPS, seed=3)
    (workdir / "run").mkdir()
    memory = measure("default", {}, clips, workdir / "run")
    model_mb = (workdir / "wide" / "onnx" / "model.onnx").stat().st_size / 1e6
    assert memory.peak_mb <= 1.5 * model_mb + 360, memory
    assert memory.end_mb <= memory.peak_mb
