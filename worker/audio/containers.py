"""Containers: which ffmpeg demuxer may read these bytes, and opening it as the CLI's pipe.

ffmpeg is only ever handed a demuxer picked here from magic numbers: its own probing would also
reach playlist and image demuxers (HLS, concat, DASH) that open further files or URLs named
inside the bytes. PyAV is imported when the first file is opened, not at start-up: it costs
about 17 MB per worker process.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from producer.errors import DecodeFailed

if TYPE_CHECKING:
    from av.audio.stream import AudioStream
    from av.container import InputContainer

#: Container options by format. ffmpeg reads, and decodes, up to 5 MB of a stream to learn its
#: parameters before handing over the first packet; a WAV header already holds them all, and
#: that second read of a one-second WAV took 1.2 of its 1.4 ms to open (the samples decoded
#: are the same: tests/test_fidelity.py).
_OPEN_OPTIONS = {"wav": {"probesize": "32"}}


def sniff_container(data: bytes) -> str | None:
    """The ffmpeg demuxer for these bytes, from magic numbers, or None."""
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


#: What a container is opened on: the bytes of a file, or a stream of its chunks.
Source = BinaryIO | io.RawIOBase


class Pipe(io.BytesIO):
    """The bytes as ffmpeg reads ``pipe:0``: forward only, so demuxers cannot seek ahead."""

    def seekable(self) -> bool:
        """A pipe is not seekable."""
        return False


class ChunkPipe(io.RawIOBase):
    """A stream of chunks (a file, an S3 body, a URL's body, as they arrive) read as ffmpeg
    reads ``pipe:0``: forward only, never more than one chunk held. What the stream raises
    (a cap, a timeout) leaves through the demuxer that was reading."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._view = memoryview(b"")

    def readable(self) -> bool:
        """It is read from."""
        return True

    def seekable(self) -> bool:
        """A pipe is not seekable."""
        return False

    def readinto(self, buffer: Any) -> int:
        """Copy the next bytes of the stream into `buffer`; 0 at its end."""
        while not self._view:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._view = memoryview(chunk)
        size = min(len(buffer), len(self._view))
        buffer[:size] = self._view[:size]
        self._view = self._view[size:]
        return size

    def peek(self, size: int) -> bytes:
        """The next `size` bytes (fewer at the end), left to be read again."""
        head = bytes(self._view)
        while len(head) < size and (chunk := next(self._chunks, None)) is not None:
            head += chunk
        self._view = memoryview(head)
        return head[:size]

    def close(self) -> None:
        """Let go of the stream's file or connection."""
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        super().close()


@contextlib.contextmanager
def first_audio_stream(
    data: Source, container: str
) -> Iterator[tuple[InputContainer, AudioStream]]:
    """A container opened by PyAV as `container` (never probed) and its first audio stream."""
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
