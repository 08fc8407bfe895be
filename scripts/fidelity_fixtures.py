"""The fidelity fixtures: small encoded files covering the formats, rates and layouts users send.

Dev-only, used by ``scripts/make_fidelity_goldens.py``. Each fixture is a seeded signal (tones,
a chirp and noise, different per channel) written as float WAV and encoded by the ``ffmpeg``
CLI; two WAVs then get a header that lies about their length. Not every combination: a
covering set, so every format, rate, layout and duration class appears at least once.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from scripts.golden_audio import write_float_wav

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "fidelity"
AUDIO_DIR = FIXTURE_DIR / "audio"


@dataclass(frozen=True)
class Fixture:
    """One file: its name, the signal's rate, channels and seconds, and ffmpeg's output flags."""

    name: str
    rate: int
    channels: int
    seconds: float
    codec: tuple[str, ...]
    #: "long" or "short": patch the WAV data chunk's size to claim twice or half its length.
    lie: str | None = None


FIXTURES = (
    Fixture("wav_s16_8k_mono_0.1s.wav", 8_000, 1, 0.1, ("-c:a", "pcm_s16le")),
    Fixture("wav_u8_11k_stereo_1s.wav", 11_025, 2, 1.0, ("-c:a", "pcm_u8")),
    Fixture("wav_s24_96k_5.1_0.3s.wav", 96_000, 6, 0.3, ("-c:a", "pcm_s24le")),
    Fixture("wav_f32_22k_stereo_1s.wav", 22_050, 2, 1.0, ("-c:a", "pcm_f32le")),
    Fixture("wav_s16_44k_mono_0.5s.wav", 44_100, 1, 0.5, ("-c:a", "pcm_s16le")),
    Fixture("flac_48k_5.1_0.5s.flac", 48_000, 6, 0.5, ("-c:a", "flac")),
    Fixture("flac_22k_mono_3s.flac", 22_050, 1, 3.0, ("-c:a", "flac", "-sample_fmt", "s32")),
    Fixture("ogg_vorbis_44k_stereo_4s.ogg", 44_100, 2, 4.0, ("-c:a", "libvorbis", "-q:a", "2")),
    Fixture("ogg_vorbis_11k_mono_8s.ogg", 11_025, 1, 8.0, ("-c:a", "libvorbis", "-q:a", "0")),
    Fixture("opus_48k_stereo_2s.opus", 48_000, 2, 2.0, ("-c:a", "libopus", "-b:a", "48k")),
    Fixture("opus_16k_5.1_1s.opus", 16_000, 6, 1.0, ("-c:a", "libopus", "-b:a", "96k")),
    Fixture("mp3_cbr_44k_stereo_3s.mp3", 44_100, 2, 3.0, ("-c:a", "libmp3lame", "-b:a", "64k")),
    Fixture("mp3_vbr_48k_stereo_5s.mp3", 48_000, 2, 5.0, ("-c:a", "libmp3lame", "-q:a", "6")),
    Fixture("mp3_cbr_22k_mono_30s.mp3", 22_050, 1, 30.0, ("-c:a", "libmp3lame", "-b:a", "24k")),
    Fixture(
        "mp3_noxing_8k_mono_1s.mp3",
        8_000,
        1,
        1.0,
        ("-c:a", "libmp3lame", "-b:a", "16k", "-write_xing", "0"),
    ),
    Fixture(
        "m4a_aac_44k_stereo_3s.m4a",
        44_100,
        2,
        3.0,
        ("-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart"),
    ),
    Fixture(
        "m4a_aac_48k_5.1_1s.m4a",
        48_000,
        6,
        1.0,
        ("-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart"),
    ),
    # No +faststart: the index (moov) follows the samples, as many phones write it.
    Fixture("m4a_moov_last_22k_mono_1s.m4a", 22_050, 1, 1.0, ("-c:a", "aac", "-b:a", "32k")),
    Fixture("wav_lies_long_16k_stereo_1s.wav", 16_000, 2, 1.0, ("-c:a", "pcm_s16le"), "long"),
    Fixture("wav_lies_short_48k_mono_2s.wav", 48_000, 1, 2.0, ("-c:a", "pcm_s16le"), "short"),
)

#: Files made by joining two fixtures' bytes: (name, first, second). A stream whose rate and
#: layout change midway (the CLI rebuilds its filter graph there; so does worker/audio/graph.py).
CHAINED = (
    ("mp3_chained_44k_stereo_then_8k_mono.mp3", "mp3_cbr_44k_stereo_3s.mp3",
     "mp3_noxing_8k_mono_1s.mp3"),
)  # fmt: skip

#: In-memory arrays at other rates: (file name, rate, seconds); stored as float32 WAV.
ARRAYS = (
    ("array_8k_1s.wav", 8_000, 1.0),
    ("array_44k_0.7s.wav", 44_100, 0.7),
    ("array_48k_1s.wav", 48_000, 1.0),
)

_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}


def signal(rng: np.random.Generator, rate: int, channels: int, seconds: float) -> np.ndarray:
    """(frames, channels) float32: per channel a tone, a chirp and noise, peak below 0.9."""
    n = max(1, round(rate * seconds))
    t = np.arange(n) / rate
    top = 0.45 * rate
    out = np.empty((n, channels))
    for c in range(channels):
        f = min(180.0 * (c + 1) * rng.uniform(0.8, 1.25), top)
        sweep = min(rng.uniform(2_000, 7_000), top)
        chirp = np.sin(2 * np.pi * (100 * t + (sweep - 100) * t**2 / (2 * max(seconds, 0.1))))
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(1, 5) * t) ** 2
        noise = rng.standard_normal(n) * rng.uniform(0.02, 0.2)
        out[:, c] = envelope * (0.4 * np.sin(2 * np.pi * f * t) + 0.2 * chirp) + noise
    return (0.9 * out / max(1.0, float(np.abs(out).max()) / 0.9)).astype(np.float32)


def encode(source: Path, fixture: Fixture, out: Path) -> None:
    """Encode `source` (float WAV) with the ffmpeg CLI, reproducibly (no version tags)."""
    layout = ["-channel_layout", _LAYOUTS[fixture.channels]]
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *layout, "-i", str(source),
           "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
           *fixture.codec, str(out)]  # fmt: skip
    subprocess.run(cmd, check=True)


def lie_about_length(path: Path, how: str) -> None:
    """Patch the WAV data chunk's size: twice the bytes present, or half of them."""
    data = bytearray(path.read_bytes())
    at = data.index(b"data", 12)
    size = int.from_bytes(data[at + 4 : at + 8], "little")
    claim = size * 2 if how == "long" else (size // 2) & ~3
    data[at + 4 : at + 8] = claim.to_bytes(4, "little")
    path.write_bytes(bytes(data))


def make_fixtures(seed: int) -> list[Path]:
    """Write every fixture and array file under AUDIO_DIR; return the fixtures' paths."""
    rng = np.random.default_rng(seed)
    AUDIO_DIR.mkdir(parents=True, exist_ok=True)
    for old in AUDIO_DIR.iterdir():
        old.unlink()
    paths = []
    with tempfile.TemporaryDirectory() as tmp:
        for fixture in FIXTURES:
            source = Path(tmp) / "source.wav"
            x = signal(rng, fixture.rate, fixture.channels, fixture.seconds)
            sf.write(source, x, fixture.rate, subtype="FLOAT")
            out = AUDIO_DIR / fixture.name
            encode(source, fixture, out)
            if fixture.lie:
                lie_about_length(out, fixture.lie)
            paths.append(out)
    for name, first, second in CHAINED:
        (AUDIO_DIR / name).write_bytes(
            (AUDIO_DIR / first).read_bytes() + (AUDIO_DIR / second).read_bytes()
        )
        paths.append(AUDIO_DIR / name)
    for name, rate, seconds in ARRAYS:
        write_float_wav(AUDIO_DIR / name, signal(rng, rate, 1, seconds)[:, 0], rate)
    return paths
