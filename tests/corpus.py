"""Generated test inputs: a corpus of audio, hostile files, and task messages built by hand.

- `write_corpus(folder)` writes every clip of `CORPUS` (about a second to run); each `Clip` says
  what decoding it must give: its rate, channels and duration, or the error code.
- `hostile_files()`: files meant to hurt a decoder (lying headers, NaNs, 10 hours of silence in
  120 kB, 64 channels…) and a few good ones, by name; tests/test_hostile.py says what each gives.
- `publish_raw(broker_url, …)`: a Celery protocol 2 message put on a queue by hand, bypassing
  the producer's checks (a bad job, pickle, a body that is not JSON, an unknown task).
"""

from __future__ import annotations

import io
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import soundfile as sf
from kombu import Connection  # type: ignore[attr-defined]

from producer.broker import transport_options
from producer.messages import CLASSIFY_TASK, INTERACTIVE_QUEUE
from producer.settings import Settings


@dataclass(frozen=True)
class Clip:
    """One corpus file and what decoding it must give."""

    name: str
    #: soundfile format (``WAV``, ``FLAC``…), ``m4a``/``webm`` (written by PyAV), or ``broken``.
    fmt: str = "WAV"
    subtype: str | None = "PCM_16"
    rate: int = 16_000  #: Hz
    channels: int = 1
    seconds: float = 1.0  #: s, as written
    signal: str = "tone"  #: tone | silence | clipped | dc | text | empty | header | truncated
    #: Expected error code, or None when the file must decode.
    error: str | None = None
    #: Lossy codecs pad or trim by up to a frame, and their decoders differ in the last bits.
    lossy: bool = False
    #: The decoded rate, when the decoder does not return the written one.
    decoded_rate: int | None = None

    @property
    def truncated(self) -> bool:
        """Cut short on purpose: it must decode to some, but fewer, seconds."""
        return self.signal == "truncated"


#: libsndfile's name for MP3 encoding.
MP3 = "MPEG_LAYER_III"

CORPUS: tuple[Clip, ...] = (
    Clip("pcm_u8_8k.wav", subtype="PCM_U8", rate=8_000, seconds=0.2),
    Clip("pcm16_16k_stereo.wav", channels=2),
    Clip("pcm24_22k.wav", subtype="PCM_24", rate=22_050),
    Clip("pcm32_44k_stereo.wav", subtype="PCM_32", rate=44_100, channels=2, seconds=0.5),
    Clip("float_48k_6ch.wav", subtype="FLOAT", rate=48_000, channels=6, seconds=0.5),
    Clip("double_32k.wav", subtype="DOUBLE", rate=32_000),
    Clip("wavex_44k_4ch.wav", fmt="WAVEX", rate=44_100, channels=4, seconds=0.5),
    Clip("flac_44k_stereo.flac", fmt="FLAC", rate=44_100, channels=2, seconds=2.0),
    Clip("flac_16k_6ch.flac", fmt="FLAC", channels=6),
    Clip("flac_16k_3ch.flac", fmt="FLAC", channels=3, seconds=0.5),
    Clip("flac_8k_30s.flac", fmt="FLAC", rate=8_000, seconds=30.0),
    Clip("vorbis_44k_stereo.ogg", fmt="OGG", subtype="VORBIS", rate=44_100, channels=2, lossy=True),
    Clip("vorbis_48k_6ch.ogg", fmt="OGG", subtype="VORBIS", rate=48_000, channels=6, lossy=True),
    Clip("opus_48k_stereo.opus", fmt="OGG", subtype="OPUS", rate=48_000, channels=2, lossy=True),
    # ffmpeg decodes Opus at 48 kHz, whatever rate it was written at.
    Clip("opus_16k.opus", fmt="OGG", subtype="OPUS", lossy=True, seconds=0.5, decoded_rate=48_000),
    Clip("mp3_44k_stereo.mp3", fmt="MP3", subtype=MP3, rate=44_100, channels=2, lossy=True),
    Clip("mp3_16k.mp3", fmt="MP3", subtype=MP3, lossy=True, seconds=0.5),
    Clip("aiff_22k_stereo.aiff", fmt="AIFF", rate=22_050, channels=2),
    Clip("aac_44k_stereo.m4a", fmt="m4a", subtype=None, rate=44_100, channels=2, lossy=True),
    Clip("aac_16k.m4a", fmt="m4a", subtype=None, lossy=True, seconds=0.5),
    Clip("opus_48k_stereo.webm", fmt="webm", subtype=None, rate=48_000, channels=2, lossy=True),
    Clip("silence.wav", signal="silence"),
    Clip("clipped_float.wav", subtype="FLOAT", signal="clipped", channels=2),
    Clip("clipped_pcm16.wav", signal="clipped"),
    Clip("dc_offset.wav", signal="dc", rate=11_025),
    Clip("flac_named.wav", fmt="FLAC", rate=24_000, channels=2, seconds=0.5),
    Clip("empty.wav", fmt="broken", signal="empty", error="decode_failed"),
    Clip("header_only.wav", fmt="broken", signal="header", error="decode_failed"),
    Clip("text.wav", fmt="broken", signal="text", error="unsupported_format"),
    Clip("truncated.wav", signal="truncated"),
    Clip("truncated.flac", fmt="FLAC", signal="truncated", rate=44_100, seconds=2.0),
)


def signal(clip: Clip) -> np.ndarray:
    """The samples a clip holds before encoding: float32 (frames, channels)."""
    frames = round(clip.seconds * clip.rate)
    t = np.arange(frames, dtype=np.float64) / clip.rate
    # A different pitch per channel, so that a wrong downmix matrix shows.
    pitch = 330.0 * (1.0 + np.arange(clip.channels) / 3.0)
    tone = 0.4 * np.sin(2 * np.pi * t[:, None] * pitch[None, :])
    if clip.signal == "silence":
        tone = np.zeros_like(tone)
    elif clip.signal == "clipped":
        tone = np.clip(tone * 4.0, -1.0, 1.0)
    elif clip.signal == "dc":
        tone = 0.25 + 0.5 * tone
    return tone.astype(np.float32)


def write_corpus(folder: Path) -> dict[str, Path]:
    """Write every clip of `CORPUS` into `folder`; return their paths by name."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for clip in CORPUS:
        path = folder / clip.name
        path.write_bytes(encode(clip))
        paths[clip.name] = path
    return paths


def encode(clip: Clip) -> bytes:
    """The file bytes of one clip."""
    if clip.fmt == "broken":
        return _BROKEN[clip.signal](clip)
    if clip.fmt in _PYAV_FORMATS:
        data = _encode_pyav(clip)
    else:
        data = encode_soundfile(signal(clip), clip.rate, clip.fmt, clip.subtype)
    if clip.truncated:
        # Cut mid-stream at an odd offset, so the last sample is cut in half as well.
        return data[: len(data) * 3 // 5 + 1]
    return data


def encode_soundfile(x: np.ndarray, rate: int, fmt: str, subtype: str | None) -> bytes:
    """Samples encoded by libsndfile, in memory."""
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


#: PyAV container and encoder for the formats libsndfile cannot write.
_PYAV_FORMATS = {"m4a": ("mp4", "aac"), "webm": ("webm", "libopus")}


def _encode_pyav(clip: Clip) -> bytes:
    container, codec = _PYAV_FORMATS[clip.fmt]
    layout = "mono" if clip.channels == 1 else "stereo"
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(codec, rate=clip.rate, layout=layout)
        assert isinstance(stream, av.AudioStream)
        planar = np.ascontiguousarray(signal(clip).T)
        frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=layout)
        frame.sample_rate = clip.rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def wav_header(rate: int, channels: int, data_bytes: int, bits: int = 16) -> bytes:
    """A canonical 44-byte PCM WAV header announcing `data_bytes` of samples."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
    riff_size = min(4 + 8 + len(fmt) + 8 + data_bytes, 0xFFFFFFFF)
    return (
        b"RIFF" + struct.pack("<I", riff_size) + b"WAVE"
        + b"fmt " + struct.pack("<I", len(fmt)) + fmt
        + b"data" + struct.pack("<I", min(data_bytes, 0xFFFFFFFF))
    )  # fmt: skip


_BROKEN: dict[str, Callable[[Clip], bytes]] = {
    "empty": lambda clip: b"",
    "header": lambda clip: wav_header(clip.rate, clip.channels, 0),
    "text": lambda clip: b"this is a text file with a .wav name, not audio\n" * 20,
}


# --- hostile files ---------------------------------------------------------------------------


def tone(frames: int, rate: int = 16_000, channels: int = 1) -> np.ndarray:
    """A 440 Hz tone at 0.3, the same on every channel: float32 (frames, channels)."""
    t = np.arange(frames, dtype=np.float64) / rate
    return np.repeat((0.3 * np.sin(2 * np.pi * 440.0 * t))[:, None], channels, 1).astype(np.float32)


def tone_wav(frames: int = 16_000, rate: int = 16_000, subtype: str = "PCM_16") -> bytes:
    """A good mono WAV of the tone (a second at 16 kHz unless told)."""
    return encode_soundfile(tone(frames, rate), rate, "WAV", subtype)


def float_wav_with(value: float) -> bytes:
    """A float WAV of the tone with ten samples set to `value` (NaN, infinity)."""
    x = tone(16_000)
    x[1000:1010] = value
    return encode_soundfile(x, 16_000, "WAV", "FLOAT")


def flac_total_samples(data: bytes, total: int) -> bytes:
    """The FLAC with STREAMINFO's 36-bit total-samples field set to `total` (0: unknown)."""
    out = bytearray(data)
    field = int.from_bytes(out[18:26], "big")  # after "fLaC" and the 4-byte block header
    field = (field & ~((1 << 36) - 1)) | total
    out[18:26] = field.to_bytes(8, "big")
    return bytes(out)


def silent_flac(seconds: int, rate: int = 1_000) -> bytes:
    """A real, highly compressible FLAC of `seconds` of silence (10 h is about 120 kB)."""
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=rate, channels=1, format="FLAC") as f:
        block = np.zeros(rate * 3600, np.int16)
        for _ in range(seconds // 3600):
            f.write(block)
    return buf.getvalue()


def hostile_files() -> dict[str, bytes]:
    """The hostile (and a few good) files of tests/test_hostile.py's local root, by name."""
    good = tone_wav()
    flac = encode_soundfile(tone(16_000), 16_000, "FLAC", "PCM_16")
    ten_hours = silent_flac(10 * 3600)
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, (6 * 1024 * 1024 // 8, 2))
    return {
        "good.wav": good,
        "zero.wav": b"",
        "truncated_header.wav": good[:30],
        "header_only.wav": wav_header(16_000, 1, 0),
        "truncated_samples.wav": good[: len(good) * 3 // 5 + 1],
        "text.wav": b"this is a text file with a .wav name, not audio\n" * 20,
        "png.wav": b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + bytes(400),
        "claims_2e31_frames.wav": wav_header(16_000, 1, 2**32 - 2) + good[44:],
        "claims_10h.wav": wav_header(16_000, 1, 16_000 * 2 * 36_000) + good[44:],
        "nan.wav": float_wav_with(float("nan")),
        "inf.wav": float_wav_with(float("inf")),
        "rate_1hz.wav": wav_header(1, 1, 2_000) + bytes(2_000),
        "rate_768khz.wav": wav_header(768_000, 1, 64_000) + bytes(64_000),
        "64ch.wav": wav_header(16_000, 64, 64 * 2 * 1_000) + bytes(64 * 2 * 1_000),
        "claims_10h.flac": flac_total_samples(flac, 16_000 * 36_000),
        "silent_10h.flac": ten_hours,
        "silent_10h_unstated.flac": flac_total_samples(ten_hours, 0),
        "70s_8k.wav": tone_wav(8_000 * 70, 8_000),
        "6MB.wav": encode_soundfile(noise.astype(np.float32), 48_000, "WAV", "FLOAT"),
        "100_samples.wav": tone_wav(100),
    }


# --- task messages built by hand ---------------------------------------------------------------


def publish_raw(
    broker_url: str,
    kwargs: dict[str, Any] | None = None,
    *,
    task: str = CLASSIFY_TASK,
    queue: str = INTERACTIVE_QUEUE,
    serializer: str | None = "json",
    raw_body: bytes | None = None,
    omit_headers: tuple[str, ...] = (),
    header_changes: dict[str, Any] | None = None,
    exchange: str = "",
) -> None:
    """Publish a Celery protocol 2 message built by hand, bypassing the producer's Client;
    `raw_body` is sent as JSON text as it is, headers can be dropped or changed."""
    task_id = str(uuid.uuid4())
    headers = {
        "lang": "py",
        "task": task,
        "id": task_id,
        "root_id": task_id,
        "parent_id": None,
        "group": None,
        "retries": 0,
        "eta": None,
        "expires": None,
        "timelimit": [None, None],
        "argsrepr": "()",
        "kwargsrepr": "{...}",
        "origin": "tests.corpus",
        "ignore_result": True,
    }
    headers = {
        k: v for k, v in {**headers, **(header_changes or {})}.items() if k not in omit_headers
    }
    body: Any = [[], kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    extra: dict[str, str] = {}
    if raw_body is not None:
        body, serializer = raw_body, None
        extra = {"content_type": "application/json", "content_encoding": "utf-8"}
    with Connection(broker_url, transport_options=transport_options(Settings())) as connection:  # type: ignore[no-untyped-call]
        connection.Producer().publish(
            body,
            exchange=exchange,
            routing_key=queue,
            serializer=serializer,
            headers=headers,
            correlation_id=task_id,
            **extra,
        )
