"""Files: bytes decoded as the pipeline's ``ffmpeg -i pipe:0 -ac 1 -ar R -f f32le`` decodes them.

The transformers pipeline hands a file's bytes to that command line. This reproduces it step by
step with the same libraries, in process: the input is a pipe (not seekable), ffmpeg's decoders
decode it (PyAV), and the CLI's filter graph (`worker.audio.graph`) downmixes and resamples.
This is the only step that parses untrusted bytes; only earmark's typed errors leave it.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, BinaryIO

from producer.errors import DecodeFailed, EarmarkError, UnsupportedFormat
from worker.audio.containers import Pipe, first_audio_stream, sniff_container
from worker.audio.decoded import Blocks, DecodedAudio, too_long
from worker.audio.graph import MonoGraph

if TYPE_CHECKING:
    from av.audio.frame import AudioFrame
    from av.audio.stream import AudioStream
    from av.packet import Packet


def decode_file(data: bytes, *, target_rate: int, max_seconds: float) -> DecodedAudio:
    """Decode, downmix and resample a file's bytes as the pipeline's ffmpeg command line does."""
    if not data:
        raise DecodeFailed("empty input: 0 bytes")
    container = sniff_container(data)
    if container is None:
        raise UnsupportedFormat("no decoder recognises these bytes")
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
    """Every frame of the first audio stream through the graph, then the resampler drained."""
    import av

    blocks, graph = Blocks(max_seconds), MonoGraph(target_rate)
    with first_audio_stream(data, container) as (source, stream):
        _check_claim(container, stream, max_seconds)
        try:
            for packet in source.demux(stream):
                for frame in _frames(packet):
                    blocks.count(frame.samples, frame.sample_rate, len(frame.layout.channels))
                    blocks.extend(graph.push(frame))
        except av.FFmpegError:
            pass  # like the CLI: a demuxer error (a corrupt or truncated tail) ends the input
    blocks.extend(graph.flush())
    return blocks.result(container)


def _frames(packet: Packet[AudioStream]) -> list[AudioFrame]:
    """A packet's frames; like the CLI, a packet that fails to decode is skipped."""
    import av

    try:
        return packet.decode()
    except av.FFmpegError:
        return []


def _check_claim(container: str, stream: AudioStream, max_seconds: float) -> None:
    """Refuse before decoding when the header claims more than the cap.

    Not for WAV: read as a pipe its length is the data chunk's size field, which lies in both
    directions, so WAV is held to the cap while decoding only.
    """
    duration, time_base = stream.duration, stream.time_base
    if container == "wav" or duration is None or time_base is None:
        return
    if float(duration * time_base) > max_seconds:
        raise too_long(max_seconds, "the header says so")
