"""The golden audio clips: small deterministic 16 kHz mono WAVs in ``tests/data/audio/golden``.

Dev-only, used by ``scripts/make_test_models.py``: the tiny test models' golden outputs are
the reference pipeline's labels of these clips. Every random draw comes from one seeded
generator, in a fixed order, so re-running writes the same files.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from scripts.feature_extractors import SAMPLING_RATE

AUDIO_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "audio" / "golden"

#: Clips by file name: (samples, soundfile subtype: "PCM_16", or "FLOAT" for float32).
Clips = dict[str, tuple[np.ndarray, str]]


def _fade(x: np.ndarray, n: int = 80) -> np.ndarray:
    ramp = np.linspace(0.0, 1.0, n)
    x = x.copy()
    x[:n] *= ramp
    x[-n:] *= ramp[::-1]
    return x


def _t(n: int) -> np.ndarray:
    """The times of ``n`` samples at the model's rate, in seconds."""
    return np.arange(n) / SAMPLING_RATE


def _noise_and_chirps(rng: np.random.Generator) -> Clips:
    """The first five clips, in the order their draws come from ``rng``."""
    sr = SAMPLING_RATE
    clips: Clips = {}

    # Two clips of exactly equal length (16000 samples).
    n = 16000
    clips["tone_440hz_1000ms.wav"] = (_fade(0.5 * np.sin(2 * np.pi * 440 * _t(n))), "PCM_16")
    noise = rng.standard_normal(n)
    env = 0.5 * (1 + np.sin(2 * np.pi * 4 * _t(n)))  # 4 Hz AM
    clips["am_noise_1000ms.wav"] = (_fade(0.25 * noise * env), "PCM_16")

    # Short clip with an odd number of samples.
    n = 4801
    clips["noise_white_0300ms.wav"] = (_fade(0.3 * rng.uniform(-1, 1, n)), "PCM_16")

    # Linear up-chirp 100 Hz -> 4 kHz.
    n = 24000
    f0, f1, dur = 100.0, 4000.0, n / sr
    phase = 2 * np.pi * (f0 * _t(n) + (f1 - f0) / (2 * dur) * _t(n) ** 2)
    clips["chirp_up_1500ms.wav"] = (_fade(0.4 * np.sin(phase)), "PCM_16")

    # Exponential down-chirp 6 kHz -> 60 Hz, 3 s (the longest clip).
    n = 48000
    f0, f1, dur = 6000.0, 60.0, n / sr
    k = (f1 / f0) ** (1 / dur)
    phase = 2 * np.pi * f0 * (k ** _t(n) - 1) / np.log(k)
    clips["chirp_down_3000ms.wav"] = (
        _fade(0.4 * np.sin(phase) + 0.01 * rng.standard_normal(n)),
        "PCM_16",
    )
    return clips


def _tones(rng: np.random.Generator) -> Clips:
    """The last three clips, drawn from ``rng`` after ``_noise_and_chirps``."""
    clips: Clips = {}

    # Tone burst (two harmonics) surrounded by near-silence.
    n = 19200
    x = 0.002 * rng.standard_normal(n)
    a, b = 6400, 12800
    tb = _t(b - a)
    x[a:b] += _fade(0.35 * np.sin(2 * np.pi * 300 * tb) + 0.2 * np.sin(2 * np.pi * 900 * tb), 160)
    clips["tone_burst_1200ms.wav"] = (x, "PCM_16")

    # AM-modulated tone + noise, 2 s.
    n = 32000
    env = 0.5 * (1 + np.sin(2 * np.pi * 1.5 * _t(n)))
    x = env * (0.3 * np.sin(2 * np.pi * 1200 * _t(n)) + 0.1 * rng.standard_normal(n))
    clips["am_tone_2000ms.wav"] = (_fade(x), "PCM_16")

    # Float32 WAV: mixture of tones and noise, 0.7 s.
    n = 11200
    x = (
        0.3 * np.sin(2 * np.pi * 220 * _t(n))
        + 0.15 * np.sin(2 * np.pi * 2500 * _t(n))
        + 0.05 * rng.standard_normal(n)
    )
    clips["mix_float32_0700ms.wav"] = (_fade(x), "FLOAT")
    return clips


def golden_clips(seed: int) -> Clips:
    """Every golden clip, drawn from one generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    clips = _noise_and_chirps(rng)
    clips.update(_tones(rng))
    return clips


def make_golden_audio(seed: int) -> list[Path]:
    """Write the golden clips and return their paths (sorted by name)."""
    clips = golden_clips(seed)
    sr = SAMPLING_RATE

    AUDIO_DIR.mkdir(parents=True, exist_ok=True)
    for old in AUDIO_DIR.glob("*.wav"):
        if old.name not in clips:
            old.unlink()
    paths = []
    for name, (x, subtype) in sorted(clips.items()):
        path = AUDIO_DIR / name
        if subtype == "FLOAT":
            write_float_wav(path, np.clip(x, -1.0, 1.0).astype(np.float32), sr)
        else:
            sf.write(path, np.clip(x, -1.0, 1.0), sr, subtype=subtype, format="WAV")
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (
            sr,
            1,
            subtype,
            len(x),
        ), info
        paths.append(path)
    return paths


def write_float_wav(path: Path, x: np.ndarray, sr: int) -> None:
    """Minimal mono IEEE-float WAV writer.

    libsndfile adds a PEAK chunk holding the current time to float WAVs, which would
    make the file differ on every run; this writes fmt (WAVE_FORMAT_IEEE_FLOAT), fact
    and data chunks only.
    """
    data = x.astype("<f4").tobytes()
    fmt = struct.pack(
        "<HHIIHHH", 3, 1, sr, sr * 4, 4, 32, 0
    )  # tag, ch, rate, byte rate, align, bits, cbSize
    fact = struct.pack("<I", len(x))
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"fact"
        + struct.pack("<I", 4)
        + fact
    )
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def read_clip_like_pipeline(path: Path) -> np.ndarray:
    """Decode exactly as the audio-classification pipeline does (ffmpeg -> f32le)."""
    from transformers.pipelines.audio_classification import ffmpeg_read

    return ffmpeg_read(path.read_bytes(), SAMPLING_RATE)
