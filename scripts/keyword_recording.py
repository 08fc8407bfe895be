"""A long recording with a known script: spoken keywords at known times, between silence and noise.

For issue 22's accuracy check of windows and timelines (`bench/keywords.py`)::

    python -m scripts.keyword_recording OUT_DIR [--minutes 10] [--seed N] [--voices held-out]

writes ``OUT_DIR/recording.{wav,flac,mp3,opus}`` (16 kHz mono; the MP3 at 64 kbit/s and the
Ogg/Opus at 32 kbit/s, by PyAV's bundled ffmpeg) and ``OUT_DIR/truth.json``: every spoken word's
``label``, ``text``, ``start_s``, ``end_s`` (the speech itself, trimmed as the demo model's
clips are), ``voice``, ``speed`` and ``pitch``. Words are espeak-ng's, by `scripts.demo_data`'s
voices and speeds (the demo model's held-out ones by default, or its training ones); about one
in six is an ``_unknown_`` word, which no keyword segment should claim. Between words lie
stretches of near-digital silence, quiet and louder white, pink or brown noise, and mains hum.
The same seed gives the same samples.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf

from scripts import demo_data as dd
from scripts.demo_data import SAMPLING_RATE as RATE
from scripts.demo_data import speech_bounds

Voices = Literal["held-out", "train"]
#: The files written, by format name: the extension, and the container, codec and bit rate
#: PyAV's ffmpeg encodes them with (None: soundfile writes them).
FORMATS: dict[str, tuple[str, tuple[str, str, int] | None]] = {
    "wav": ("wav", None),
    "flac": ("flac", None),
    "mp3": ("mp3", ("mp3", "libmp3lame", 64_000)),
    "opus": ("opus", ("ogg", "libopus", 32_000)),
}
#: Seconds of background between one word's clip and the next (uniform), and at the start.
GAP_S = (2.0, 5.0)
LEAD_S = 1.5
#: Share of spoken words that are not keywords (``_unknown_``).
UNKNOWN_SHARE = 1 / 6
#: Peak level of a word, in dBFS (uniform).
WORD_PEAK_DB = (-14.0, -3.0)
#: Background stretches: seconds long (uniform), and RMS level in dBFS of each kind.
STRETCH_S = (6.0, 20.0)
FADE_S = 0.5
BACKGROUNDS = {
    "silence": (-90.0, -80.0),
    "quiet": (-60.0, -45.0),
    "loud": (-34.0, -26.0),
    "hum": (-40.0, -26.0),
}


@dataclass(frozen=True)
class Spoken:
    """One word of the script: what, when (speech start and end, seconds) and by whom."""

    label: str
    text: str
    start_s: float
    end_s: float
    voice: str
    speed: int
    pitch: int


def script(seconds: float, seed: int, voices: Voices = "held-out") -> list[dd.Utterance]:
    """The words to say, in order: enough for `seconds` at the mean gap, keywords in turn."""
    rng = np.random.default_rng(seed)
    if voices == "held-out":
        pairs = dd.held_out_pairs()
        pitches: tuple[int, ...] = dd.HELD_OUT_PITCHES
    else:
        pairs = [
            (f"{base}+{variant}" if variant else base, speed)
            for base in dd.TRAIN_BASES
            for variant in dd.TRAIN_VARIANTS
            for speed in dd.TRAIN_SPEEDS
        ]
        pitches = (20, 35, 50, 65, 80)
    count = int((seconds - LEAD_S) / (1.0 + sum(GAP_S) / 2))
    out = []
    for i in range(count):
        voice, speed = pairs[rng.integers(len(pairs))]
        unknown = rng.random() < UNKNOWN_SHARE
        words = dd.UNKNOWN_WORDS if unknown else dd.KEYWORDS
        word = words[rng.integers(len(words))] if unknown else dd.KEYWORDS[i % len(dd.KEYWORDS)]
        out.append(dd.Utterance(word, voice, speed, int(pitches[rng.integers(len(pitches))])))
    return out


def background(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """`seconds` of 16 kHz background: stretches of silence, quiet or loud noise, or hum, each
    fading into the next over ``FADE_S`` (a step in level would sound like a plosive)."""
    total = round(seconds * RATE)
    fade = round(FADE_S * RATE)
    audio = np.zeros(total + fade, np.float32)
    ramp = np.sin(np.linspace(0.0, np.pi / 2, fade, dtype=np.float32)) ** 2
    done = 0
    while done < total:
        n = min(total - done, round(rng.uniform(*STRETCH_S) * RATE)) + fade
        kind = list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))]
        level = 10 ** (rng.uniform(*BACKGROUNDS[kind]) / 20)
        colour = "hum" if kind == "hum" else ("white", "pink", "brown")[rng.integers(3)]
        stretch = level * dd.noise(colour, rng, n)
        if done:
            stretch[:fade] *= ramp
        stretch[-fade:] *= ramp[::-1]
        audio[done : done + n] += stretch
        done += n - fade
    return audio[:total]


def recording(
    seconds: float, seed: int, voices: Voices = "held-out"
) -> tuple[np.ndarray, list[Spoken]]:
    """The 16 kHz samples (peak under 1) and the words spoken in them, in time order."""
    utterances = script(seconds, seed, voices)
    clips = dd.synthesize(utterances)
    rng = np.random.default_rng([seed, 1])
    audio = background(seconds, rng)
    truth, at = [], round(LEAD_S * dd.SAMPLING_RATE)
    for u, clip in zip(utterances, clips, strict=True):
        if at + dd.CLIP_SAMPLES > len(audio):
            break
        peak = float(np.abs(clip).max())
        audio[at : at + dd.CLIP_SAMPLES] += clip * (10 ** (rng.uniform(*WORD_PEAK_DB) / 20) / peak)
        first, end = speech_bounds(clip)
        start_s, end_s = round((at + first) / RATE, 4), round((at + end) / RATE, 4)
        truth.append(Spoken(u.label, u.text, start_s, end_s, u.voice, u.speed, u.pitch))
        at += dd.CLIP_SAMPLES + round(rng.uniform(*GAP_S) * dd.SAMPLING_RATE)
    return np.clip(audio, -1.0, 1.0), truth


def write(
    out_dir: Path,
    audio: np.ndarray,
    truth: Sequence[Spoken],
    formats: Sequence[str] = tuple(FORMATS),
) -> dict[str, Path]:
    """``recording.<ext>`` per format and ``truth.json`` under `out_dir`; the files by format."""
    out_dir.mkdir(parents=True, exist_ok=True)
    wav = out_dir / "recording.wav"
    sf.write(wav, audio, dd.SAMPLING_RATE, subtype="PCM_16")
    paths = {}
    for name in formats:
        ext, codec = FORMATS[name]
        path = out_dir / f"recording.{ext}"
        if codec is None and name != "wav":
            sf.write(path, audio, dd.SAMPLING_RATE, subtype="PCM_16")
        elif codec is not None:
            _encode(path, audio, *codec)
        paths[name] = path
    seconds = len(audio) / dd.SAMPLING_RATE
    words = [asdict(word) for word in truth]
    (out_dir / "truth.json").write_text(json.dumps({"seconds": seconds, "words": words}, indent=1))
    return paths


def _encode(path: Path, audio: np.ndarray, container: str, codec: str, bit_rate: int) -> None:
    """`audio` (mono, 16 kHz) encoded by PyAV's bundled ffmpeg: no ffmpeg binary needed."""
    import av

    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=dd.SAMPLING_RATE, layout="mono")
        assert isinstance(stream, av.AudioStream)
        stream.bit_rate = bit_rate
        samples = np.ascontiguousarray(audio, np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate = dd.SAMPLING_RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)


def read_truth(path: Path) -> list[Spoken]:
    """The words of a ``truth.json``."""
    return [Spoken(**word) for word in json.loads(path.read_text())["words"]]


def main(argv: Sequence[str] | None = None) -> int:
    """Write the recording in every format and its truth file."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.keyword_recording", description=__doc__
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--voices", choices=["held-out", "train"], default="held-out")
    args = parser.parse_args(argv)
    audio, truth = recording(args.minutes * 60, args.seed, args.voices)
    for name, path in write(args.out_dir, audio, truth).items():
        print(f"{name}: {path} ({path.stat().st_size:,} bytes)")
    keywords = sum(word.label in dd.KEYWORDS for word in truth)
    print(f"{len(truth)} words, {keywords} keywords, {len(audio) / dd.SAMPLING_RATE:g} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
