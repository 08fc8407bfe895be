"""The reference decoder: ``ffmpeg -i pipe:0 -ac 1 -ar R -f f32le``, in process, through PyAV.

The transformers pipeline hands a file's bytes to that command line. This reproduces it step by
step with the same libraries: the input is a pipe (not seekable), ffmpeg's decoders decode it,
and a filter graph like the one the CLI builds, ``abuffer → aformat=flt:mono:R → abuffersink``,
lets libavfilter auto-insert ``aresample`` with swresample's default options to do the downmix
and the resampling. PyAV is imported here only, when the first file is decoded (its import costs
about 17 MB per worker process).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from producer.errors import DecodeFailed, EarmarkError, TooLarge, UnsupportedFormat
from worker.audio import first_audio_stream
from worker.downmix import MAX_CHANNELS

if TYPE_CHECKING:
    from av.audio.frame import AudioFrame
    from av.filter import Graph

#: ffmpeg's default layout per channel count (``av_channel_layout_default``).
_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1",
                    8: "7.1"}  # fmt: skip
#: Lowest and highest source sample rates accepted, in Hz (as `worker.audio` accepts).
_RATES = (1_000, 384_000)


@dataclass(frozen=True)
class ReferenceAudio:
    """A file as the reference reads it: mono float32 at the target rate, and its source."""

    waveform: np.ndarray
    sample_rate: int
    channels: int
    duration_s: float


class _Pipe(io.BytesIO):
    """The bytes as ffmpeg reads ``pipe:0``: forward only, so demuxers cannot seek ahead."""

    def seekable(self) -> bool:
        """A pipe is not seekable."""
        return False


def decode_reference(
    data: bytes, container: str | None, *, target_rate: int, max_seconds: float
) -> ReferenceAudio:
    """Decode, downmix and resample as the pipeline's ffmpeg command line does."""
    if not data:
        raise DecodeFailed("empty input: 0 bytes")
    if container is None:
        raise UnsupportedFormat("no decoder recognises these bytes")
    try:
        try:
            return _Decoding(target_rate, max_seconds).run(_Pipe(data), container)
        except DecodeFailed:
            if container != "mov":
                raise
            # PyAV's forward-only reader cannot reach a moov box written after the samples,
            # which the CLI's pipe does reach: a seekable read gives the CLI's samples there.
            return _Decoding(target_rate, max_seconds).run(io.BytesIO(data), container)
    except EarmarkError:
        raise
    except Exception as e:  # ffmpeg raises a zoo of types on hostile bytes
        raise DecodeFailed(f"decoder failed: {type(e).__name__}") from e


class _Decoding:
    """One file's decode: the source's rate and channels, its frame count, the output blocks."""

    def __init__(self, target_rate: int, max_seconds: float) -> None:
        self.target_rate, self.max_seconds = target_rate, max_seconds
        self.source: tuple[int, int] | None = None  # (rate, channels) of the first frame
        self.frames = 0
        self.blocks: list[np.ndarray] = []
        self.graph: Graph | None = None
        self.graph_key: tuple[Any, ...] | None = None

    def run(self, pipe: io.BytesIO, container: str) -> ReferenceAudio:
        """Decode every frame of the first audio stream, then drain the resampler."""
        import av

        with first_audio_stream(pipe, container) as (source, stream):
            self._check_claim(container, stream.duration, stream.time_base)
            try:
                for packet in source.demux(stream):
                    try:
                        frames = packet.decode()
                    except av.FFmpegError:
                        continue  # like the CLI: a packet that fails to decode is skipped
                    for frame in frames:
                        self._push(frame)
            except av.FFmpegError:
                pass  # like the CLI: a demuxer error (a corrupt or truncated tail) ends the input
        self._drain(flush=True)
        return self._result(container)

    def _check_claim(self, container: str, duration: int | None, time_base: Any) -> None:
        """Refuse before decoding when the header claims more than the cap.

        Not for WAV: read as a pipe its length is the data chunk's size field, which lies in
        both directions, so WAV is held to the cap while decoding only.
        """
        if container == "wav" or duration is None or time_base is None:
            return
        if float(duration * time_base) > self.max_seconds:
            raise TooLarge(f"longer than {self.max_seconds:g} s (the header says so)")

    def _push(self, frame: AudioFrame) -> None:
        channels = len(frame.layout.channels)
        if self.source is None:
            self._check_source(frame.sample_rate, channels)
            self.source = (frame.sample_rate, channels)
        self.frames += frame.samples
        if self.frames > math.floor(self.max_seconds * self.source[0]):
            raise TooLarge(f"longer than {self.max_seconds:g} s")
        key = (frame.sample_rate, frame.format.name, _layout_name(frame))
        if key != self.graph_key:  # the CLI re-builds its graph when the input changes
            self._drain(flush=False)
            self._check_source(frame.sample_rate, channels)
            self.graph, self.graph_key = _graph(key, self.target_rate), key
        assert self.graph is not None
        frame.pts = None  # the CLI's graph has no async resampling: timestamps change nothing
        self.graph.push(frame)
        self._drain(flush=False)

    def _drain(self, *, flush: bool) -> None:
        if self.graph is None:
            return
        if flush:
            self.graph.push(None)
        while True:
            try:
                out = self.graph.pull()
            except (BlockingIOError, EOFError):  # PyAV's EAGAIN and AVERROR_EOF subclass these
                return
            self.blocks.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))

    def _check_source(self, rate: int, channels: int) -> None:
        if not _RATES[0] <= rate <= _RATES[1]:
            raise DecodeFailed(f"implausible sample rate {rate} Hz")
        if not 1 <= channels <= MAX_CHANNELS:
            raise UnsupportedFormat(f"{channels} channels; at most {MAX_CHANNELS} are supported")

    def _result(self, container: str) -> ReferenceAudio:
        if self.source is None or not self.blocks:
            raise DecodeFailed(f"{container}: no decodable samples")
        waveform = np.concatenate(self.blocks) if len(self.blocks) > 1 else self.blocks[0]
        if not np.isfinite(waveform).all():
            raise DecodeFailed("decoded samples contain NaN or infinity")
        rate, channels = self.source
        return ReferenceAudio(
            np.ascontiguousarray(waveform, np.float32), rate, channels, self.frames / rate
        )


def _layout_name(frame: AudioFrame) -> str:
    """The frame's layout, or the default for its channel count where the file names none.

    ffmpeg's CLI guesses the default layout for an unnamed one before it builds its graph
    (``guess_input_channel_layout``), so a plain 6-channel WAV downmixes as 5.1.
    """
    name = frame.layout.name
    channels = len(frame.layout.channels)
    if name.endswith("channels") or name.startswith("unknown"):
        return _DEFAULT_LAYOUTS.get(channels, name)
    return str(name)


def _graph(key: tuple[Any, ...], target_rate: int) -> Graph:
    """abuffer → aformat=flt:mono:R → abuffersink; libavfilter inserts the aresample."""
    from av.filter import Graph

    rate, sample_fmt, layout = key
    graph = Graph()
    source = graph.add(
        "abuffer",
        sample_rate=str(rate),
        sample_fmt=sample_fmt,
        channel_layout=layout,
        time_base=f"1/{rate}",
    )
    aformat = graph.add(
        "aformat", sample_fmts="flt", sample_rates=str(target_rate), channel_layouts="mono"
    )
    sink = graph.add("abuffersink")
    source.link_to(aformat)
    aformat.link_to(sink)
    graph.configure()
    return graph
