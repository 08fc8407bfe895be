"""The peer: the ``transformers`` audio-classification pipeline on PyTorch, on the same files.

It is what a user would otherwise run: ``transformers.pipeline("audio-classification", …)`` on
CPU with the same weights (``bench/models/<name>/torch/``, written by ``bench/make_model.py``),
fed file paths, which it reads and decodes with ffmpeg. Only fp32: PyTorch runs the checkpoint as
it is. When torch, ffmpeg or the checkpoint is missing, ``why_not`` says which, and nothing runs.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def why_not(model: Path) -> str | None:
    """Why the peer cannot run on ``model`` here, or None when it can."""
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed (pip install -e '.[reference]')"
    if shutil.which("ffmpeg") is None:
        return "ffmpeg is not installed (transformers decodes file paths with it)"
    if not (model / "torch" / "config.json").is_file():
        return f"{model.name} has no PyTorch checkpoint (bench/make_model.py writes one)"
    return None


class Peer:
    """A warm transformers pipeline on CPU, with torch using every core."""

    def __init__(self, model: Path) -> None:
        import torch
        from transformers import pipeline

        torch.set_num_threads(os.cpu_count() or 1)
        self.torch_version = str(torch.__version__)
        self.pipe: Any = pipeline("audio-classification", model=str(model / "torch"), device="cpu")

    def pass_seconds(self, paths: Sequence[Path], batch: int) -> float:
        """Seconds of one pass over ``paths`` at ``batch``, after one untimed batch."""
        import torch

        files = [str(path) for path in paths]
        with torch.inference_mode():
            self.pipe(files[:batch], batch_size=batch)
            started = time.perf_counter()
            outputs = self.pipe(files, batch_size=batch)
            seconds = time.perf_counter() - started
        if len(outputs) != len(files):
            raise RuntimeError(f"the peer gave {len(outputs)} answers for {len(files)} files")
        return seconds
