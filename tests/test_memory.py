"""A worker's memory on long and mixed-length audio (bench/memory.py measures it at length).

The wide model (scripts/wide_model.py) has wav2vec2's full-width front end, whose activations
grow with clips times the longest clip; before the bounds, a pool process reached 4.3 GB on such
a mix and kept it (ONNX Runtime's arena). With the defaults (12 s of padded audio a call, the
arena handed back after every call whose shapes differ from the last, 64 MiB of decoded audio
ahead, two malloc arenas, a fixed mmap threshold) it stays within a tenth of that. Issue 13's
goal is 1.5 x the model file + 300 MB, met by 3-7 MB on 300 clips (bench/memory.py); this short
run allows + 360 MB.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import psutil
import pytest

from bench.memory import Run, measure, write_mix
from producer.settings import Settings
from scripts.wide_model import make_wide_model
from worker.hub import resolve_model
from worker.model import OnnxModel, SessionOptions
from worker.service.runtime import tune_malloc

pytestmark = pytest.mark.slow

#: Clips in the run: enough to fill several padded calls of every length.
CLIPS = 48


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wide model and the mix, made once."""
    root = tmp_path_factory.mktemp("memory")
    make_wide_model(root / "wide")
    (root / "clips").mkdir()
    return root


@pytest.mark.worker
def test_a_pool_process_stays_within_the_goal_on_mixed_lengths(workdir: Path) -> None:
    clips = write_mix(workdir / "clips", CLIPS, seed=3)
    (workdir / "run").mkdir()
    memory = measure("default", {}, clips, workdir / "run", Run())
    model_mb = (workdir / "wide" / "onnx" / "model.onnx").stat().st_size / 1e6
    assert memory.peak_mb <= 1.5 * model_mb + 360, memory
    assert memory.end_mb <= memory.peak_mb


def test_the_adaptive_arena_holds_memory_only_while_call_shapes_repeat(workdir: Path) -> None:
    model = OnnxModel(resolve_model(str(workdir / "wide"), dtype="fp32"))  # the default
    shrunk = OnnxModel(
        resolve_model(str(workdir / "wide"), dtype="fp32"), SessionOptions(memory_arena="shrink")
    )
    long_call, short_call = _features(12.0), _features(1.0)

    def resident_after(model: OnnxModel, features: dict[str, np.ndarray]) -> float:
        model.run(features)
        return float(psutil.Process().memory_info().rss) / 1e6

    first = resident_after(model, long_call)
    repeated = resident_after(model, long_call)  # same shapes: the activations are kept
    changed = resident_after(model, short_call)  # new shapes: handed back after the call
    # One 12 s clip through the 512-channel front end needs about 200 MB of activations.
    assert repeated - first > 60, (first, repeated)
    assert repeated - changed > 60, (repeated, changed)
    always = [resident_after(shrunk, long_call) for _ in range(3)]
    assert max(always) - min(always) < 30, always


def _features(seconds: float) -> dict[str, np.ndarray]:
    samples = np.zeros((1, round(16_000 * seconds)), np.float32)
    return {"input_values": samples, "attention_mask": np.ones(samples.shape, np.int64)}


def test_the_malloc_tuning_leaves_an_operators_own_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Given an operator's variable or tunable in the environment, Settings reads it and the
    worker leaves that parameter as the operator set it."""
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.check=0:glibc.malloc.mmap_threshold=65536")
    assert tune_malloc(Settings()) == []
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    # glibc's mallopt took (in this process too)
    assert tune_malloc(Settings()) == ["MALLOC_ARENA_MAX"]
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.check=0")
    assert tune_malloc(Settings()) == ["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_"]


#: A process that frees one 1 MiB buffer (glibc then raises its mmap threshold past that size),
#: makes 64 more, frees all but the last and prints how many MB it still holds.
_HOLES = """
import sys
import numpy as np, psutil
from producer.settings import Settings
from worker.service.runtime import tune_malloc
if sys.argv[1] == "tuned":
    tune_malloc(Settings())
np.ones(1 << 18, np.float32)  # made and freed at once
before = psutil.Process().memory_info().rss
buffers = [np.ones(1 << 18, np.float32) for _ in range(64)]
del buffers[:-1]
print((psutil.Process().memory_info().rss - before) / 1e6)
"""


@pytest.mark.parametrize(("mode", "held_mb"), [("tuned", (0, 8)), ("glibc", (48, 80))])
def test_freed_audio_buffers_go_back_to_the_system_once_malloc_is_tuned(
    mode: str, held_mb: tuple[float, float]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_"))}
    run = subprocess.run(
        [sys.executable, "-c", _HOLES, mode], env=env, capture_output=True, text=True, check=True
    )
    low, high = held_mb
    assert low <= float(run.stdout) <= high, (mode, run.stdout)
