#!/usr/bin/env python
"""Measure the two decoders (EARMARK_DECODER) on the fidelity fixtures: speed, samples, scores.

The fixtures (``tests/data/fidelity/audio``) are the mix users send: WAV, FLAC, OGG/Vorbis,
Opus, MP3 and M4A/AAC at 8-96 kHz, mono to 5.1, 0.1-30 s. Prints, per fixture, each decoder's
best-of-3 time to a 16 kHz mono clip and how far `fast` lands from `reference` (RMS and max abs
of the sample difference); when the ``ffmpeg`` CLI is installed, how far PyAV's bundled ffmpeg
lands from it; then, per test model, the largest score change `fast` makes against the
transformers pipeline's goldens, and how many top-1 labels it flips.

    .venv/bin/python scripts/measure_decoders.py [--no-scores]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from producer.settings import Settings  # noqa: E402
from tests.models import FAMILIES, model_dir  # noqa: E402
from worker.labeling import LabelOptions  # noqa: E402
from worker.pipeline import AudioClassificationPipeline, pipeline  # noqa: E402

AUDIO = ROOT / "tests" / "data" / "fidelity" / "audio"
GOLDEN = ROOT / "tests" / "data" / "fidelity" / "golden.json"


def _pipeline(family: str, decoder: str) -> AudioClassificationPipeline:
    settings = Settings(local_roots=str(AUDIO), decoder=decoder)  # type: ignore[arg-type]
    return pipeline(model=str(model_dir(family)), dtype="fp32", settings=settings)


def _best_of(load: Any, data: bytes, runs: int = 3) -> tuple[float, np.ndarray, float]:
    """(seconds, waveform, source duration) of the fastest of `runs` loads."""
    best, clip = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        clip = load(data)
        best = min(best, time.perf_counter() - started)
    assert clip is not None
    return best, clip.waveform, clip.audio.duration_s


def cli(data: bytes) -> np.ndarray:
    """transformers' ffmpeg_read: the CLI itself."""
    cmd = ["ffmpeg", "-i", "pipe:0", "-ac", "1", "-ar", "16000", "-f", "f32le",
           "-hide_banner", "-loglevel", "quiet", "pipe:1"]  # fmt: skip
    return np.frombuffer(subprocess.run(cmd, input=data, capture_output=True).stdout, "<f4")


def speed_and_samples() -> None:
    """One row per fixture, then the totals."""
    fast = _pipeline("wav2vec2", "fast").loader
    reference = _pipeline("wav2vec2", "reference").loader
    has_cli = shutil.which("ffmpeg") is not None
    print(f"{'fixture':34s} {'fast ms':>8s} {'ref ms':>8s} {'rms f-r':>9s} {'max f-r':>9s}"
          f"{' max pyav-cli' if has_cli else ''}")  # fmt: skip
    totals = np.zeros(3)
    for path in sorted(AUDIO.glob("[!a]*")):  # the files, not the arrays
        data = path.read_bytes()
        t_fast, w_fast, seconds = _best_of(fast.load, data)
        t_ref, w_ref, _ = _best_of(reference.load, data)
        n = min(w_fast.size, w_ref.size)
        d = w_fast[:n].astype(np.float64) - w_ref[:n]
        row = (f"{path.name:34s} {t_fast * 1e3:8.2f} {t_ref * 1e3:8.2f} "
               f"{np.sqrt(np.mean(d**2)):9.2e} {np.abs(d).max():9.2e}")  # fmt: skip
        if has_cli:
            c = cli(data)
            same = c.size == w_ref.size
            gap = np.abs(c - w_ref).max() if same else float("nan")
            row += f" {gap:12.2e}" + ("" if same else f" (length {c.size} vs {w_ref.size})")
        print(row)
        totals += (t_fast, t_ref, seconds)
    files = len(list(AUDIO.glob("[!a]*")))
    print(f"\nper clip: fast {totals[0] / files * 1e3:.2f} ms, reference "
          f"{totals[1] / files * 1e3:.2f} ms; per second of audio: fast "
          f"{totals[0] / totals[2] * 1e3:.2f} ms, reference {totals[1] / totals[2] * 1e3:.2f} ms; "
          f"reference / fast = {totals[1] / totals[0]:.2f}x")  # fmt: skip


def score_changes() -> None:
    """Per family: the largest score change `fast` makes against the goldens; top-1 flips."""
    golden = json.loads(GOLDEN.read_text())["scores"]
    print(f"\n{'model':20s} {'worst fast':>10s} {'worst ref':>10s} {'flips fast':>10s}")
    for family in FAMILIES:
        expected = golden[family]
        names = [n for n in sorted(expected) if not n.startswith("array_")]
        row = [family]
        for decoder in ("fast", "reference"):
            classify = _pipeline(family, decoder)
            everything = LabelOptions(top_k=0)
            records = classify.iter_records([str(AUDIO / n) for n in names], options=everything)
            worst, flips = 0.0, 0
            for name, record in zip(names, records, strict=True):
                ours = {label.label: label.score for label in record.labels or []}
                worst = max(worst, *(abs(ours[label] - s) for label, s in expected[name]))
                (top, first), (_, second) = expected[name][:2]
                flips += first - second > 1e-3 and (record.labels or [])[0].label != top
            row += [f"{worst:10.2e}", str(flips)]
        print(f"{row[0]:20s} {row[1]:>10s} {row[3]:>10s} {row[2]:>10s}")


def main() -> int:
    """Print both tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-scores", action="store_true", help="skip the score table")
    args = parser.parse_args()
    speed_and_samples()
    if not args.no_scores:
        score_changes()
    return 0


if __name__ == "__main__":
    sys.exit(main())
