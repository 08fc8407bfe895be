"""Synthetic Speech Commands for the demo model: espeak-ng words, noise, and a fixed split.

Dev-only helper, shared by ``scripts/train_demo_model.py`` and ``tests/test_demo_model.py``;
it needs numpy, soundfile, soxr and the ``espeak-ng`` binary, never torch.

The split is fixed: training speaks with ``TRAIN_BASES`` x ``TRAIN_VARIANTS`` at
``TRAIN_SPEEDS``; evaluation speaks with ``HELD_OUT_VOICES`` (each has a base accent or a
variant that training never hears) at ``HELD_OUT_SPEEDS`` (never used in training).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

#: The model's input rate (Hz) and clip length (samples): 1 s, as in Speech Commands.
SAMPLING_RATE = 16000
CLIP_SAMPLES = 16000

#: Speech Commands labels in the order of the production model's config (ids 0..11).
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN = "_unknown_"
SILENCE = "_silence_"
LABELS = (*KEYWORDS, UNKNOWN, SILENCE)

#: Words spoken for ``_unknown_``: the other Speech Commands words and a few more.
UNKNOWN_WORDS = (
    "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow",
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "learn", "follow", "forward", "visual", "backward", "apple", "water", "music",
    "table", "window", "garden", "paper", "orange", "river", "yellow", "open",
)  # fmt: skip

#: espeak-ng base voices (accents) and voice variants (``voice+variant``) heard in training.
TRAIN_BASES = ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-us-nyc")
TRAIN_VARIANTS = ("", "m1", "m2", "m4", "m5", "m6", "m7", "f1", "f3", "f4", "klatt", "klatt3")
#: Words per minute (espeak-ng ``-s``) heard in training, and the ones kept for evaluation.
TRAIN_SPEEDS = (115, 130, 150, 165, 180, 200, 220, 250)
HELD_OUT_SPEEDS = (140, 190, 235)
#: Accents and variants training never hears; every held-out voice uses at least one.
HELD_OUT_BASES = ("en-029", "en-gb-x-gbcwmd")
HELD_OUT_VARIANTS = ("m3", "f2", "klatt2")
HELD_OUT_VOICES = (
    "en-029", "en-029+m3", "en-029+f1", "en-gb-x-gbcwmd", "en-gb-x-gbcwmd+f2",
    "en-gb-x-gbcwmd+m6", "en-us+m3", "en-us+f2", "en-gb+klatt2", "en-gb-scotland+f2",
    "en-us-nyc+m3", "en-gb-x-rp+klatt2",
)  # fmt: skip
#: Pitches (espeak-ng ``-p``, 0..99) the held-out set cycles through.
HELD_OUT_PITCHES = (35, 50, 65)

#: A sample is speech when its magnitude exceeds this fraction of the clip's peak.
_TRIM_FRACTION = 0.01


@dataclass(frozen=True)
class Utterance:
    """One espeak-ng call: what is said, by which voice, how fast, how high and how loud."""

    text: str
    voice: str
    speed: int
    pitch: int = 50
    amplitude: int = 100

    @property
    def label(self) -> str:
        """The Speech Commands label of the spoken word."""
        return self.text if self.text in KEYWORDS else UNKNOWN


def require_espeak() -> str:
    """The ``espeak-ng`` executable, or an error that says how to install it."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise RuntimeError("espeak-ng is not on PATH: install it (apt-get install espeak-ng)")
    return path


def speak(utterance: Utterance, workdir: Path) -> np.ndarray:
    """One second of 16 kHz float32 audio: the word, trimmed of silence and centred."""
    out = workdir / f"{uuid.uuid4().hex}.wav"
    u = utterance
    command = [require_espeak(), "-v", u.voice, "-s", str(u.speed), "-p", str(u.pitch)]
    command += ["-a", str(u.amplitude), "-w", str(out), u.text]
    subprocess.run(command, check=True, capture_output=True)
    audio, rate = sf.read(out, dtype="float32")
    out.unlink()
    return fit_one_second(soxr.resample(audio, rate, SAMPLING_RATE, quality="HQ"))


def synthesize(utterances: Sequence[Utterance], workers: int = 2) -> np.ndarray:
    """``speak`` each utterance (threads: the work is in espeak-ng processes): (n, 16000)."""
    with (
        tempfile.TemporaryDirectory(prefix="earmark-espeak-") as tmp,
        ThreadPoolExecutor(workers) as pool,
    ):
        clips = list(pool.map(lambda u: speak(u, Path(tmp)), utterances))
    return np.stack(clips) if clips else np.zeros((0, CLIP_SAMPLES), np.float32)


def speech_bounds(audio: np.ndarray) -> tuple[int, int]:
    """The first and one past the last sample of speech (the whole clip when none is loud)."""
    loud = np.flatnonzero(np.abs(audio) > _TRIM_FRACTION * max(float(np.abs(audio).max()), 1e-9))
    return (int(loud[0]), int(loud[-1]) + 1) if len(loud) else (0, len(audio))


def fit_one_second(audio: np.ndarray) -> np.ndarray:
    """Trim leading and trailing silence, then pad or crop around the centre to 1 s."""
    first, end = speech_bounds(audio)
    speech = audio[first:end]
    if len(speech) >= CLIP_SAMPLES:
        start = (len(speech) - CLIP_SAMPLES) // 2
        return speech[start : start + CLIP_SAMPLES].astype(np.float32)
    clip = np.zeros(CLIP_SAMPLES, np.float32)
    start = (CLIP_SAMPLES - len(speech)) // 2
    clip[start : start + len(speech)] = speech
    return clip


def held_out_utterances(
    words: Sequence[str], pairs: Sequence[tuple[str, int]] | None = None
) -> list[Utterance]:
    """Each word by each held-out (voice, speed) pair, pitch cycling deterministically."""
    pairs = pairs if pairs is not None else held_out_pairs()
    return [
        Utterance(word, voice, speed, HELD_OUT_PITCHES[(i + j) % len(HELD_OUT_PITCHES)])
        for i, (voice, speed) in enumerate(pairs)
        for j, word in enumerate(words)
    ]


def held_out_pairs() -> list[tuple[str, int]]:
    """Every held-out voice at every held-out speed."""
    return [(voice, speed) for voice in HELD_OUT_VOICES for speed in HELD_OUT_SPEEDS]


def held_out_unknown(per_voice: int = 10) -> list[Utterance]:
    """``per_voice`` unknown words per held-out voice, walking through ``UNKNOWN_WORDS``."""
    out = []
    for i, voice in enumerate(HELD_OUT_VOICES):
        for k in range(per_voice):
            n = i * per_voice + k
            speed = HELD_OUT_SPEEDS[n % len(HELD_OUT_SPEEDS)]
            pitch = HELD_OUT_PITCHES[n % len(HELD_OUT_PITCHES)]
            out.append(Utterance(UNKNOWN_WORDS[n % len(UNKNOWN_WORDS)], voice, speed, pitch))
    return out


def noise(kind: str, rng: np.random.Generator, n: int = CLIP_SAMPLES) -> np.ndarray:
    """Unit-RMS noise: ``white``, ``pink``, ``brown`` or mains ``hum`` with harmonics."""
    if kind == "hum":
        t = np.arange(n) / SAMPLING_RATE
        f0 = rng.choice([50.0, 60.0])
        x = sum(rng.uniform(0.2, 1.0) * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3))
                for k in (1, 2, 3, 5))  # fmt: skip
        x = x + 0.05 * rng.standard_normal(n)
    else:
        spectrum = np.fft.rfft(rng.standard_normal(n))
        freqs = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
        exponent = {"white": 0.0, "pink": 0.5, "brown": 1.0}[kind]
        x = np.fft.irfft(spectrum / freqs**exponent, n)
    x = np.asarray(x, dtype=np.float64)
    scaled: np.ndarray = (x / (np.sqrt(np.mean(x**2)) + 1e-12)).astype(np.float32)
    return scaled


NOISE_KINDS = ("white", "pink", "brown", "hum")


def silence_clip(rng: np.random.Generator) -> np.ndarray:
    """A ``_silence_`` clip: near-digital silence or background noise at a random level."""
    level = 10 ** rng.uniform(-4.5, -0.7)
    kind = NOISE_KINDS[rng.integers(len(NOISE_KINDS))]
    clip = level * noise(kind, rng)
    if rng.random() < 0.3:  # a mixture of two backgrounds
        clip += level * rng.uniform(0.1, 1.0) * noise(NOISE_KINDS[rng.integers(4)], rng)
    return clip.astype(np.float32)


def held_out_silence(count: int, seed: int = 7) -> np.ndarray:
    """``count`` deterministic ``_silence_`` clips for evaluation: (count, 16000)."""
    rng = np.random.default_rng(seed)
    return np.stack([silence_clip(rng) for _ in range(count)])
