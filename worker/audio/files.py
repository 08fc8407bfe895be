"""Files: bytes decoded as the pipeline's ``ffmpeg -i pipe:0 -ac 1 -ar R -f f32le`` decodes them.

The transformers pipeline hands a file's bytes to that command line. This reproduces it step by
step with the same libraries, in process: the input is a pipe (not seekable), ffmpeg's decoders
decode it (PyAV), and the CLI's filter graph (`worker.audio.graph`) downmixes and resamples.
This is the only step that parses untrusted bytes; only earmark's typed errors leave it.

A whole file (`decode_file`) and a streamed one (`StreamedAudio`: a long recording, read and
decoded a chunk at a time) go through the same generator of blocks, so they give the same
samples; the resampler's state carries across every block either way.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from producer.errors import DecodeFailed, EarmarkError, UnsupportedFormat
from worker.audio.containers import (
    ChunkPipe,
    Pipe,
    Source,
    first_audio_stream,
    sniff_container,
)
from worker.audio.decoded import Blocks, DecodedAudio, check_finite, too_long
from worker.audio.graph import MonoGraph

if TYPE_CHECKING:
    from av.audio.frame import AudioFrame
    from av.audio.stream import AudioStream
    from av.packet import Packet


def decode_file(data: bytes, *, target_rate: int, max_seconds: float) -> DecodedAudio:
    """Decode, downmix and resample a file's bytes as the pipeline's ffmpeg command line does."""
    container = _container(data[:16])
    try:
        try:
            return _decode(Pipe(data), container, target_rate, max_seconds)
        except DecodeFailed:
            if container != "mov":
                raise
            # PyAV's forward-only reader cannot reach a moov box written after the samples,
            # which the CLI's pipe does reach: a seekable read gives the CLI's samples there.
            return _decode(io.BytesIO(data), container, target_rate, max_seconds)
    except EarmarkError:
        raise
    except Exception as e:  # ffmpeg raises a zoo of types on hostile bytes
        raise DecodeFailed(f"decoder failed: {type(e).__name__}") from e


def _decode(data: BinaryIO, container: str, target_rate: int, max_seconds: float) -> DecodedAudio:
    """The whole file's blocks, kept."""
    blocks = Blocks(max_seconds)
    blocks.extend(list(mono_blocks(data, container, target_rate, blocks)))
    return blocks.result(container)


def mono_blocks(
    data: Source, container: str, target_rate: int, blocks: Blocks
) -> Iterator[np.ndarray]:
    """Every frame of the first audio stream through the graph, then the resampler drained:
    mono float32 blocks at `target_rate`, as they come; `blocks` counts the source frames and
    holds them to its cap."""
    import av

    graph = MonoGraph(target_rate)
    with first_audio_stream(data, container) as (source, stream):
        _check_claim(container, stream, blocks)
        try:
            for packet in source.demux(stream):
                for frame in _frames(packet):
                    blocks.count(frame.samples, frame.sample_rate, len(frame.layout.channels))
                    yield from graph.push(frame)
        except av.FFmpegError:
            pass  # like the CLI: a demuxer error (a corrupt or truncated tail) ends the input
    yield from graph.flush()


class StreamedAudio:
    """A file decoded as its chunks arrive (a long recording): its mono blocks at the model's
    rate, one at a time, held to `max_seconds` (the cap `setting` sets); its source's rate,
    channels and length once read."""

    def __init__(
        self, chunks: Iterator[bytes], target_rate: int, max_seconds: float, setting: str
    ) -> None:
        self._pipe = ChunkPipe(chunks)
        self.target_rate = target_rate
        self.counter = Blocks(max_seconds, setting)

    def blocks(self) -> Iterator[np.ndarray]:
        """The blocks as they decode; earmark's typed errors only, as `decode_file` raises."""
        try:
            container = _container(self._pipe.peek(16))
            for block in mono_blocks(self._pipe, container, self.target_rate, self.counter):
                yield check_finite(block.reshape(-1).astype(np.float32, copy=False))
            if self.counter.source is None:
                raise DecodeFailed(f"{container}: no decodable samples")
        except EarmarkError:
            raise
        except Exception as e:  # ffmpeg raises a zoo of types on hostile bytes
            raise DecodeFailed(f"decoder failed: {type(e).__name__}") from e
        finally:
            self._pipe.close()

    def info(self) -> tuple[int, int, float]:
        """The source's rate in Hz, its channels and its length in seconds (once decoded)."""
        if self.counter.source is None:
            raise DecodeFailed("no decodable samples")
        rate, channels = self.counter.source
        return rate, channels, self.counter.frames / rate


def _container(head: bytes) -> str:
    """The demuxer for a file starting with `head`; its typed refusal."""
    if not head:
        raise DecodeFailed("empty input: 0 bytes")
    container = sniff_container(head)
    if container is None:
        raise UnsupportedFormat("no decoder recognises these bytes")
    return container


def _frames(packet: Packet[AudioStream]) -> list[AudioFrame]:
    """A packet's frames; like the CLI, a packet that fails to decode is skipped."""
    import av

    try:
        return packet.decode()
    except av.FFmpegError:
        return []


def _check_claim(container: str, stream: AudioStream, blocks: Blocks) -> None:
    """Refuse before decoding when the header claims more than the cap.

    Not for WAV: read as a pipe its length is the data chunk's size field, which lies in both
    directions, so WAV is held to the cap while decoding only.
    """
    duration, time_base = stream.duration, stream.time_base
    if container == "wav" or duration is None or time_base is None:
        return
    if float(duration * time_base) > blocks.max_seconds:
        raise too_long(blocks.max_seconds, "the header says so", blocks.setting)
