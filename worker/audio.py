"""Audio: decode bytes into float32 samples, downmix them as ffmpeg does, resample with soxr.

`decode_audio` is the only step that parses untrusted bytes; everything after it takes and
returns arrays. It mirrors what the reference pipeline gets from ``ffmpeg -i pipe:0 -ac 1 -ar R
-f f32le``: libsndfile reads what it can, PyAV (ffmpeg's libraries) reads the rest.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import soundfile as sf
import soxr

from producer.errors import DecodeFailed, EarmarkError, TooLarge, UnsupportedFormat
from worker.downmix import MAX_CHANNELS, container_layout, known_layout, to_mono

if TYPE_CHECKING:  # PyAV is imported when first needed: it costs ~17 MB per process
    from av.audio.frame import AudioFrame
    from av.audio.stream import AudioStream
    from av.container import InputContainer

__all__ = [
    "MAX_CHANNELS",
    "DecodedAudio",
    "decode_audio",
    "resample",
    "sniff_container",
    "to_mono",
]

#: Lowest sample rate accepted, in Hz; below this a header is broken, not audio.
MIN_SAMPLE_RATE = 1_000
#: Highest sample rate accepted, in Hz (the top rate of studio interfaces).
MAX_SAMPLE_RATE = 384_000
#: Most decoded values (frames x channels) held at once: 2**28 float32 values are 1 GiB. Bounds
#: memory when a small file claims 32 channels at 384 kHz, which the duration cap alone allows.
MAX_DECODED_VALUES = 2**28
#: Frames read from libsndfile per call, so a lying header never sizes an allocation.
_BLOCK_FRAMES = 65_536
#: libsndfile's error code for "Format not recognised".
_SF_UNRECOGNISED = 1


@dataclass(frozen=True)
class DecodedAudio:
    """Decoded samples: float32, shape (frames, channels), with their rate and channel names."""

    samples: np.ndarray
    sample_rate: int
    #: ffmpeg channel names in sample order when the file says; None means "guess from count".
    layout: tuple[str, ...] | None = None

    @property
    def channels(self) -> int:
        """Number of channels."""
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return int(self.samples.shape[0]) / self.sample_rate


class SampleBlocks:
    """Decoded blocks gathered under the duration and memory caps; shared by both decoders."""

    def __init__(
        self,
        sample_rate: int,
        channels: int,
        max_seconds: float,
        layout: tuple[str, ...] | None = None,
    ) -> None:
        if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
            raise DecodeFailed(f"implausible sample rate {sample_rate} Hz")
        if channels < 1:
            raise DecodeFailed("no channels")
        if channels > MAX_CHANNELS:
            raise UnsupportedFormat(f"{channels} channels; at most {MAX_CHANNELS} are supported")
        self.sample_rate, self.channels, self.max_seconds = sample_rate, channels, max_seconds
        self.layout = layout if layout is not None and len(layout) == channels else None
        self.max_frames = min(math.floor(max_seconds * sample_rate), MAX_DECODED_VALUES // channels)
        self.frames = 0
        self._blocks: list[np.ndarray] = []

    def check_claim(self, claimed_frames: int) -> None:
        """Refuse before decoding when the header already claims more than the cap."""
        if claimed_frames > self.max_frames:
            raise TooLarge(self._too_large(claimed_frames))

    def add(self, block: np.ndarray) -> None:
        """Keep one (frames, channels) float32 block; raise TooLarge once past the cap."""
        self.frames += block.shape[0]
        if self.frames > self.max_frames:
            raise TooLarge(self._too_large(self.frames))
        self._blocks.append(block)

    def result(self) -> DecodedAudio | None:
        """The audio gathered so far, or None when there is none."""
        if self.frames == 0:
            return None
        samples = np.concatenate(self._blocks) if len(self._blocks) > 1 else self._blocks[0]
        if not np.isfinite(samples).all():
            raise DecodeFailed("decoded samples contain NaN or infinity")
        return DecodedAudio(
            np.ascontiguousarray(samples, np.float32), self.sample_rate, self.layout
        )

    def _too_large(self, frames: int) -> str:
        if frames * self.channels > MAX_DECODED_VALUES:
            return f"over {MAX_DECODED_VALUES} decoded values ({self.channels} channels)"
        return f"longer than {self.max_seconds:g} s (at least {frames / self.sample_rate:.1f} s)"


def decode_audio(data: bytes, *, max_seconds: float) -> DecodedAudio:
    """Decode encoded audio bytes; only earmark errors escape."""
    if not data:
        raise DecodeFailed("empty input: 0 bytes")
    try:
        return _decode(bytes(data), max_seconds)
    except EarmarkError:
        raise
    except Exception as e:  # libsndfile and ffmpeg raise a zoo of types on hostile bytes
        raise DecodeFailed(f"decoder failed: {type(e).__name__}") from e


def _decode(data: bytes, max_seconds: float) -> DecodedAudio:
    partial, sf_error = _read_soundfile(data, max_seconds)
    if partial is not None and sf_error is None:
        return partial
    container = sniff_container(data)
    if container is not None:
        try:
            return _read_pyav(data, container, max_seconds)
        except DecodeFailed:
            if partial is None:
                raise
    if partial is not None:  # libsndfile stopped early and ffmpeg did no better
        return partial
    if container is None and getattr(sf_error, "code", None) == _SF_UNRECOGNISED:
        raise UnsupportedFormat("no decoder recognises these bytes") from sf_error
    raise DecodeFailed("the container holds no decodable samples") from sf_error


def _read_soundfile(
    data: bytes, max_seconds: float
) -> tuple[DecodedAudio | None, Exception | None]:
    """Read with libsndfile: (audio, None), (partial or None, why it stopped)."""
    try:
        f = sf.SoundFile(io.BytesIO(data))
    except (sf.SoundFileError, RuntimeError, ValueError, TypeError) as e:
        return None, e
    with f:
        layout = container_layout(data, f.format, f.channels)
        blocks = SampleBlocks(f.samplerate, f.channels, max_seconds, layout)
        if 0 < f.frames < 2**62:  # libsndfile says SF_COUNT_MAX when it does not know
            blocks.check_claim(f.frames)
        try:
            while len(block := f.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)):
                blocks.add(block)
        except (sf.SoundFileError, RuntimeError) as e:
            return blocks.result(), e
        audio = blocks.result()
        return audio, None if audio is not None else DecodeFailed("no samples")


def sniff_container(data: bytes) -> str | None:
    """The ffmpeg demuxer for these bytes, from magic numbers, or None.

    ffmpeg is only ever handed a demuxer picked here: its own probing would also reach playlist
    and image demuxers (HLS, concat) that open further files or URLs named inside the bytes.
    """
    head, box = data[:4], data[4:8]
    if head in (b"RIFF", b"RF64") and data[8:12] == b"WAVE":
        return "wav"
    if box in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "mov"
    magic = {b"fLaC": "flac", b"OggS": "ogg", b"\x1a\x45\xdf\xa3": "matroska", b"FORM": "aiff",
             b"caff": "caf", b"#!AM": "amr", b"\x30\x26\xb2\x75": "asf"}  # fmt: skip
    if head in magic:
        return magic[head]
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "aac" if head[1] & 0x06 == 0 else "mp3"  # ADTS has layer bits 00
    return None


#: Container options by format. ffmpeg reads, and decodes, up to 5 MB of a stream to learn its
#: parameters before handing over the first packet; a WAV header already holds them all, and
#: that second read of a one-second WAV took 1.2 of its 1.4 ms to open (the samples decoded
#: are the same: tests/test_fidelity.py).
_OPEN_OPTIONS = {"wav": {"probesize": "32"}}


@contextlib.contextmanager
def first_audio_stream(
    data: BinaryIO, container: str
) -> Iterator[tuple[InputContainer, AudioStream]]:
    """A container opened by PyAV as `container` (never probed) and its first audio stream; both
    decoders open input here."""
    import av

    try:
        # Tags are not needed; "replace" keeps undecodable ones from failing the open.
        source = av.open(
            data,
            "r",
            format=container,
            container_options=_OPEN_OPTIONS.get(container, {}),
            metadata_errors="replace",
        )
    except av.FFmpegError as e:
        raise DecodeFailed(f"{container}: not a readable container") from e
    with source:
        if not source.streams.audio:
            raise DecodeFailed(f"{container}: no audio stream")
        yield source, source.streams.audio[0]


def _read_pyav(data: bytes, container: str, max_seconds: float) -> DecodedAudio:
    """Decode with ffmpeg's libraries through PyAV; a truncated stream keeps what decoded."""
    import av

    with first_audio_stream(io.BytesIO(data), container) as (source, stream):
        blocks: SampleBlocks | None = None
        try:
            for frame in source.decode(stream):
                blocks = blocks or _first_frame_blocks(frame, stream, max_seconds)
                if (frame.sample_rate, len(frame.layout.channels)) != (
                    blocks.sample_rate,
                    blocks.channels,
                ):
                    raise DecodeFailed(f"{container}: sample rate or channels change mid-stream")
                blocks.add(_frame_samples(frame))
        except av.FFmpegError:
            pass  # like ffmpeg: a corrupt or truncated tail ends the stream
    audio = blocks.result() if blocks is not None else None
    if audio is None:
        raise DecodeFailed(f"{container}: no decodable samples")
    return audio


def _first_frame_blocks(frame: AudioFrame, stream: AudioStream, max_seconds: float) -> SampleBlocks:
    """The first decoded frame, not the header, sets the rate (HE-AAC doubles it)."""
    channels = len(frame.layout.channels)
    layout = known_layout(c.name for c in frame.layout.channels)
    blocks = SampleBlocks(frame.sample_rate, channels, max_seconds, layout)
    if stream.duration is not None and stream.time_base is not None:
        blocks.check_claim(int(stream.duration * stream.time_base * frame.sample_rate))
    return blocks


#: Full scale of each integer sample format, as libswresample converts it to float.
_FULL_SCALE = {"s16": 2.0**15, "s32": 2.0**31, "s64": 2.0**63}


def _frame_samples(frame: AudioFrame) -> np.ndarray:
    """One frame as (frames, channels) float32."""
    raw = frame.to_ndarray()
    kind, channels = frame.format.name.rstrip("p"), len(frame.layout.channels)
    grid = raw.T if frame.format.is_planar else raw.reshape(-1, channels)
    if kind == "u8":
        return ((grid.astype(np.float32) - 128.0) / 128.0).astype(np.float32)
    if kind in _FULL_SCALE:
        return (grid / _FULL_SCALE[kind]).astype(np.float32)
    return np.ascontiguousarray(grid, np.float32)


def resample(mono: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample 1-D audio with soxr (quality "HQ"); the same values when the rates match."""
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} and {target_sr}")
    x = np.ascontiguousarray(mono, np.float32)
    if orig_sr == target_sr or x.size == 0:
        return x
    return np.asarray(soxr.resample(x, orig_sr, target_sr, quality="HQ"), np.float32)
