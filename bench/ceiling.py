"""The ceiling: raw ONNX Runtime on precomputed features, and what its session options cost.

Features are made once, outside the clock, with earmark's own extractor, grouped as a batch
plan says; then only ``InferenceSession.run`` is timed. The session is built the way a user of
plain ONNX Runtime would build it (``ort.SessionOptions()`` defaults: every graph optimisation,
the layout transformer, spinning thread pool, memory arena kept), unless a variant says
otherwise; ``VARIANTS`` names the options measured one at a time against that default.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from worker.features import FeatureExtractor

Feeds = dict[str, np.ndarray]
#: Sets a variant's options on ONNX Runtime's session options and run options.
Configure = Callable[[Any, Any], None]


def _default(options: Any, run_options: Any) -> None:
    """ONNX Runtime's defaults, untouched."""


def _no_spinning(options: Any, run_options: Any) -> None:
    """Intra-op threads sleep instead of spinning between parallel sections."""
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")


def _level(name: str) -> Configure:
    def apply(options: Any, run_options: Any) -> None:
        import onnxruntime as ort

        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, name)

    apply.__doc__ = f"graph_optimization_level = {name}"
    return apply


def _earmark_like(options: Any, run_options: Any) -> None:
    """What worker/model.py sets: one inter-op thread (its adaptive arena keeps the memory of
    calls that repeat one shape, as every call here does)."""
    options.inter_op_num_threads = 1


def _shrinking(options: Any, run_options: Any) -> None:
    """ONNX Runtime's defaults, the arena shrunk after every call (EARMARK_MEMORY_ARENA=shrink)."""
    run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")


#: Session option variants measured against ONNX Runtime's defaults, by name.
VARIANTS: dict[str, Configure] = {
    "ORT defaults (all optimisations, layout, spinning)": _default,
    "allow_spinning=0": _no_spinning,
    "optimisations: extended (no NCHWc layout)": _level("ORT_ENABLE_EXTENDED"),
    "optimisations: basic": _level("ORT_ENABLE_BASIC"),
    "optimisations: disabled": _level("ORT_DISABLE_ALL"),
    "arena shrunk after every call": _shrinking,
    "as worker/model.py (inter-op 1)": _earmark_like,
}


class RawSession:
    """A plain ONNX Runtime session on one graph, configured by ``configure``."""

    def __init__(self, onnx_path: Path, configure: Configure = _default) -> None:
        import onnxruntime as ort

        options, self.run_options = ort.SessionOptions(), ort.RunOptions()
        configure(options, self.run_options)
        self.session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self.names = [i.name for i in self.session.get_inputs()]

    def run(self, feeds: Mapping[str, np.ndarray]) -> None:
        """One call on the inputs the graph declares."""
        self.session.run(None, {name: feeds[name] for name in self.names}, self.run_options)


def precompute(
    extractor: FeatureExtractor, waves: Sequence[np.ndarray], plan: Sequence[Sequence[int]]
) -> list[Feeds]:
    """Features of each batch of ``plan`` (indices into ``waves``), as float32 arrays."""
    batches = []
    for rows in plan:
        features = extractor([waves[i] for i in rows])
        batches.append({k: np.ascontiguousarray(v, np.float32) for k, v in features.items()})
    return batches


def chunks(count: int, batch: int) -> list[list[int]]:
    """Indices 0..count-1 in consecutive batches of ``batch`` (the last may be short)."""
    return [list(range(start, min(start + batch, count))) for start in range(0, count, batch)]


def time_pass(session: RawSession, batches: Sequence[Feeds]) -> float:
    """Seconds of one call on each of ``batches``, in turn."""
    started = time.perf_counter()
    for feeds in batches:
        session.run(feeds)
    return time.perf_counter() - started
