"""Inputs: turn whatever a caller passes (a reference, bytes, a file, an array) into a clip."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from producer.errors import InvalidReference
from producer.records import AudioInfo
from producer.refs import parse_ref
from worker.audio import DecodedAudio, decode_array, decode_file
from worker.fetch import FetcherProtocol
from worker.fetch.limits import too_large
from worker.retry import DEFAULT_RETRY, RetryPolicy

#: What the in-process API accepts as one input.
AudioInput = str | bytes | bytearray | IO[bytes] | Mapping[str, Any] | np.ndarray


@dataclass(frozen=True)
class Clip:
    """One input decoded, downmixed and resampled to the model's rate."""

    waveform: np.ndarray  # float32, 1-D, at the extractor's sampling rate
    audio: AudioInfo
    fetch_s: float
    decode_s: float


@dataclass(frozen=True)
class ClipLoader:
    """Loads inputs into clips at ``sampling_rate`` within the byte and duration caps.

    Files go through ffmpeg's decoders and resampler, arrays through torchaudio's sinc
    resampler, as the transformers pipeline does (`worker.audio`).
    """

    fetcher: FetcherProtocol
    sampling_rate: int
    max_bytes: int
    max_seconds: float
    #: Seconds one reference's fetch may take in all, tries and waits between them included
    #: (EARMARK_FETCH_TIMEOUT_S): a silent server cannot hold a batch for six read timeouts.
    fetch_timeout_s: float = 300.0
    #: Fetches that fail for a reason that may pass (timeouts, 5xx, SlowDown) are tried again.
    retry: RetryPolicy = DEFAULT_RETRY

    def load(self, item: AudioInput) -> Clip:
        """Fetch (for references), decode, downmix and resample one input."""
        started = time.perf_counter()
        if isinstance(item, Mapping | np.ndarray):
            decoded = decode_array(
                item, target_rate=self.sampling_rate, max_seconds=self.max_seconds
            )
            return _clip(decoded, started, started)
        data = self._read(item)
        return self._decode(data, started, time.perf_counter())

    def decode(self, data: bytes) -> Clip:
        """Decode, downmix and resample the bytes of one file already fetched."""
        now = time.perf_counter()
        return self._decode(data, now, now)

    def _decode(self, data: bytes, started: float, fetched: float) -> Clip:
        decoded = decode_file(data, target_rate=self.sampling_rate, max_seconds=self.max_seconds)
        return _clip(decoded, started, fetched)

    def _read(self, item: AudioInput) -> bytes:
        if isinstance(item, str):
            ref = parse_ref(item)
            deadline = time.monotonic() + self.fetch_timeout_s
            return self.retry.call(lambda: self.fetcher.fetch(ref, deadline), deadline=deadline)
        if isinstance(item, bytes | bytearray):
            data = bytes(item)
        elif hasattr(item, "read"):
            data = item.read(self.max_bytes + 1)
        else:
            raise InvalidReference(f"cannot read audio from a {type(item).__name__}")
        if len(data) > self.max_bytes:
            raise too_large("input", self.max_bytes)
        return data


def describe(item: AudioInput) -> str:
    """The text a result record shows as its ``input``."""
    if isinstance(item, str):
        return item
    if isinstance(item, bytes | bytearray):
        return "<bytes>"
    if isinstance(item, Mapping | np.ndarray):
        return "<array>"
    return str(getattr(item, "name", "<file>"))


def _clip(decoded: DecodedAudio, started: float, fetched: float) -> Clip:
    """The one way a clip is made: decoded audio and how long its fetch and decode took."""
    audio = AudioInfo(
        duration_s=round(decoded.duration_s, 6),
        sample_rate=decoded.sample_rate,
        channels=decoded.channels,
        decoder="reference",
    )
    done = time.perf_counter()
    return Clip(decoded.waveform, audio, fetch_s=fetched - started, decode_s=done - fetched)
