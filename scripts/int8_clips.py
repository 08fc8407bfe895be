#!/usr/bin/env python
r"""Calibration and held-out clips for the demo model's static int8 graph (``earmark optimize``).

Dev-only (numpy, soundfile, soxr and the ``espeak-ng`` binary; no torch, no network). The
calibration clips are spoken by training voices at training speeds (``scripts/demo_data.py``),
with noise and silence as training mixes them; the held-out clips are the demo model card's
held-out voices and speeds, never used for calibration. Each set is written as 16 kHz WAV files
with a ``manifest.txt`` of their paths:

    .venv/bin/python scripts/int8_clips.py calibration /tmp/int8-calibration
    .venv/bin/earmark optimize models/earmark-kws-demo \
        --calibrate /tmp/int8-calibration/manifest.txt
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file: make `scripts.*` importable
    sys.path.insert(0, str(ROOT))

from scripts import demo_data as data  # noqa: E402

SEED = 20261204
#: Calibration clips: spoken words (keywords and other words alike), then silence and noise.
CALIBRATION_SPOKEN = 160
CALIBRATION_SILENCE = 32
#: Held-out clips: keywords by held-out voices and speeds, other words, silence.
HELD_OUT_PAIRS = 12
HELD_OUT_SILENCE = 40


def calibration_clips(rng: np.random.Generator) -> np.ndarray:
    """(n, 16000) clips by training voices at training speeds, some noisy, and silence."""
    voices = [f"{b}+{v}" if v else b for b in data.TRAIN_BASES for v in data.TRAIN_VARIANTS]
    words = [*data.KEYWORDS, *data.UNKNOWN_WORDS]
    utterances = [
        data.Utterance(
            words[i % len(words)],
            voices[rng.integers(len(voices))],
            int(rng.choice(data.TRAIN_SPEEDS)),
            int(rng.integers(20, 81)),
            int(rng.integers(60, 181)),
        )
        for i in range(CALIBRATION_SPOKEN)
    ]
    spoken = data.synthesize(utterances)
    for clip in spoken[rng.random(len(spoken)) < 0.5]:  # half with noise, 5-30 dB SNR
        kind = data.NOISE_KINDS[rng.integers(len(data.NOISE_KINDS))]
        rms = float(np.sqrt(np.mean(clip**2))) + 1e-9
        clip += rms * 10 ** (-rng.uniform(5, 30) / 20) * data.noise(kind, rng)
    silence = np.stack([data.silence_clip(rng) for _ in range(CALIBRATION_SILENCE)])
    return np.concatenate([spoken, silence]).astype(np.float32)


def held_out_clips() -> tuple[np.ndarray, list[str]]:
    """(n, 16000) clips by held-out voices at held-out speeds, and their labels."""
    pairs = data.held_out_pairs()[:: max(1, len(data.held_out_pairs()) // HELD_OUT_PAIRS)]
    utterances = [*data.held_out_utterances(data.KEYWORDS, pairs), *data.held_out_unknown(3)]
    clips = np.concatenate([data.synthesize(utterances), data.held_out_silence(HELD_OUT_SILENCE)])
    labels = [u.label for u in utterances] + [data.SILENCE] * HELD_OUT_SILENCE
    return clips.astype(np.float32), labels


def write_set(folder: Path, clips: np.ndarray) -> Path:
    """Write each clip as ``NNNN.wav`` (16 kHz, float) and a manifest of their paths; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, clip in enumerate(clips):
        path = folder / f"{i:04d}.wav"
        sf.write(path, np.clip(clip, -1.0, 1.0), data.SAMPLING_RATE, subtype="FLOAT")
        paths.append(str(path.resolve()))
    manifest = folder / "manifest.txt"
    manifest.write_text("".join(f"{p}\n" for p in paths), encoding="utf-8")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    """Write the calibration or held-out set into a folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=("calibration", "held-out"))
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    if args.which == "calibration":
        clips = calibration_clips(np.random.default_rng(SEED))
    else:
        clips, _ = held_out_clips()
    print(write_set(args.folder, clips))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
