"""The clips the bench labels: the uniform keyword case and a realistic mix of files.

``keyword_clips`` writes one-second 16 kHz mono WAV clips (what a keyword spotter sees);
``mixed_clips`` writes 0.5-10 s clips cycling through 8, 16, 22.05, 44.1 and 48 kHz, mono and
stereo, WAV, FLAC, OGG (Vorbis) and MP3. Tones plus noise, seeded: the same files every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

#: Seed of the generated clips.
SEED = 20240611
#: Sample rates of the mix, in Hz.
MIX_RATES = (8_000, 16_000, 22_050, 44_100, 48_000)
#: Container, soundfile subtype and file suffix of each format in the mix.
MIX_FORMATS = (
    ("WAV", "PCM_16", "wav"),
    ("FLAC", "PCM_16", "flac"),
    ("OGG", "VORBIS", "ogg"),
    ("MP3", "MPEG_LAYER_III", "mp3"),
)
#: Shortest and longest clip of the mix, in seconds.
MIX_SECONDS = (0.5, 10.0)


@dataclass(frozen=True)
class Workload:
    """Clips on disk and how they were made."""

    name: str  # "keyword" or "mix"
    what: str
    paths: list[Path]
    seconds: float  # audio seconds over all clips

    def describe(self) -> str:
        """One line: what the clips are, how many, how much audio."""
        return f"{self.name}: {len(self.paths)} clips, {self.seconds:.1f} s of audio; {self.what}"


def _signal(rng: np.random.Generator, frames: int, rate: int, channels: int) -> np.ndarray:
    t = np.arange(frames) / rate
    tones = [np.sin(2 * np.pi * rng.uniform(100, 0.45 * rate) * t) for _ in range(channels)]
    return 0.3 * np.stack(tones, axis=1) + 0.05 * rng.standard_normal((frames, channels))


def keyword_clips(folder: Path, count: int) -> Workload:
    """``count`` one-second 16 kHz mono WAV clips."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    paths = []
    for index in range(count):
        path = folder / f"kw_{index:04d}.wav"
        sf.write(path, _signal(rng, 16_000, 16_000, 1), 16_000, subtype="PCM_16")
        paths.append(path)
    return Workload("keyword", "1 s, 16 kHz mono WAV", paths, float(count))


def mixed_clips(folder: Path, count: int) -> Workload:
    """``count`` clips of 0.5-10 s, cycling rates, channel counts and formats."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED + 1)
    paths, total = [], 0.0
    for index in range(count):
        rate = MIX_RATES[index % len(MIX_RATES)]
        channels = 1 + index % 2
        container, subtype, suffix = MIX_FORMATS[index % len(MIX_FORMATS)]
        seconds = float(rng.uniform(*MIX_SECONDS))
        frames = int(seconds * rate)
        path = folder / f"mix_{index:04d}_{rate}hz_{channels}ch.{suffix}"
        sf.write(
            path, _signal(rng, frames, rate, channels), rate, format=container, subtype=subtype
        )
        paths.append(path)
        total += frames / rate
    what = "0.5-10 s; 8, 16, 22.05, 44.1, 48 kHz; mono and stereo; WAV, FLAC, OGG, MP3"
    return Workload("mix", what, paths, total)
