#!/usr/bin/env python
"""Measure the decoder on the fidelity fixtures: its time per clip, and its gap to the CLI.

The fixtures (``tests/data/fidelity/audio``) are the mix users send: WAV, FLAC, OGG/Vorbis,
Opus, MP3 and M4A/AAC at 8-96 kHz, mono to 5.1, 0.1-30 s. Prints, per fixture, the best-of-3
time to a 16 kHz mono clip and, when the ``ffmpeg`` CLI is installed, the largest sample gap
to ``ffmpeg -i pipe:0 -ac 1 -ar 16000 -f f32le`` (what the transformers pipeline runs); then the
time per clip and per second of audio, to set beside the model's (bench/README.md).
tests/test_fidelity.py proves the samples and scores; this only times them.

    .venv/bin/python scripts/measure_decoding.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from producer.settings import Settings  # noqa: E402
from tests.models import model_dir  # noqa: E402
from worker.classification import pipeline  # noqa: E402
from worker.inputs import Clip, ClipLoader  # noqa: E402

AUDIO = ROOT / "tests" / "data" / "fidelity" / "audio"


def _loader() -> ClipLoader:
    settings = Settings(local_roots=str(AUDIO))
    return pipeline(model=str(model_dir("wav2vec2")), dtype="fp32", settings=settings).loader


def _best_of(loader: ClipLoader, data: bytes, runs: int = 3) -> tuple[float, Clip]:
    """(seconds, clip) of the fastest of `runs` decodes."""
    best, clip = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        clip = loader.decode(data)
        best = min(best, time.perf_counter() - started)
    assert clip is not None
    return best, clip


def cli(data: bytes) -> np.ndarray:
    """transformers' ffmpeg_read: the CLI itself."""
    cmd = ["ffmpeg", "-i", "pipe:0", "-ac", "1", "-ar", "16000", "-f", "f32le",
           "-hide_banner", "-loglevel", "quiet", "pipe:1"]  # fmt: skip
    return np.frombuffer(subprocess.run(cmd, input=data, capture_output=True).stdout, "<f4")


def main() -> int:
    """One row per fixture, then the totals."""
    loader = _loader()
    has_cli = shutil.which("ffmpeg") is not None
    print(f"{'fixture':34s} {'ms':>8s}{' max gap to cli' if has_cli else ''}")
    files = sorted(AUDIO.glob("[!a]*"))  # the files, not the arrays
    spent = seconds = 0.0
    for path in files:
        data = path.read_bytes()
        took, clip = _best_of(loader, data)
        row = f"{path.name:34s} {took * 1e3:8.2f}"
        if has_cli:
            c = cli(data)
            same = c.size == clip.waveform.size
            gap = np.abs(c - clip.waveform).max() if same else float("nan")
            row += f" {gap:14.2e}" + ("" if same else f" (length {c.size} vs {clip.waveform.size})")
        print(row)
        spent, seconds = spent + took, seconds + clip.audio.duration_s
    print(f"\nper clip {spent / len(files) * 1e3:.2f} ms; per second of audio "
          f"{spent / seconds * 1e3:.2f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
