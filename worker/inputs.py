"""Inputs: turn whatever a caller passes (a reference, bytes, a file, an array) into a clip."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any, Literal

import numpy as np

from producer.errors import DecodeFailed, InvalidReference, TooLarge
from producer.records import AudioInfo
from producer.refs import parse_ref
from producer.retry import DEFAULT_RETRY, RetryPolicy
from worker.audio import DecodedAudio, decode_audio, resample, sniff_container, to_mono
from worker.fetch import FetcherProtocol
from worker.reference_decoder import ReferenceAudio, decode_reference
from worker.sinc_resample import sinc_resample

#: What the in-process API accepts as one input.
AudioInput = str | bytes | bytearray | IO[bytes] | Mapping[str, Any] | np.ndarray
#: How inputs become samples (EARMARK_DECODER): the pipeline's own way, or libsndfile + soxr.
DecoderChoice = Literal["reference", "fast"]


@dataclass(frozen=True)
class Clip:
    """One input decoded, downmixed and resampled to the model's rate."""

    waveform: np.ndarray  # float32, 1-D, at the extractor's sampling rate
    audio: AudioInfo
    fetch_s: float
    decode_s: float


@dataclass(frozen=True)
class ClipLoader:
    """Loads inputs into clips at ``sampling_rate`` within the byte and duration caps."""

    fetcher: FetcherProtocol
    sampling_rate: int
    max_bytes: int
    max_seconds: float
    #: Seconds one reference's fetch may take in all, tries and waits between them included
    #: (EARMARK_FETCH_TIMEOUT_S): a silent server cannot hold a batch for six read timeouts.
    fetch_timeout_s: float = 300.0
    #: Fetches that fail for a reason that may pass (timeouts, 5xx, SlowDown) are tried again.
    retry: RetryPolicy = DEFAULT_RETRY
    #: `reference`: files through ffmpeg's decoders and resampler, arrays through torchaudio's
    #: sinc resampler, as the transformers pipeline does; `fast`: libsndfile and soxr.
    decoder: DecoderChoice = "reference"

    def load(self, item: AudioInput) -> Clip:
        """Fetch (for references), decode, downmix and resample one input."""
        started = time.perf_counter()
        if isinstance(item, Mapping | np.ndarray):
            decoded = _from_array(item, self.sampling_rate, self.max_seconds)
            return self._clip(decoded, started, started)
        data = self._read(item)
        return self._decode(data, started, time.perf_counter())

    def decode(self, data: bytes) -> Clip:
        """Decode, downmix and resample the bytes of one file already fetched."""
        now = time.perf_counter()
        return self._decode(data, now, now)

    def _decode(self, data: bytes, started: float, fetched: float) -> Clip:
        if self.decoder == "fast":
            return self._clip(decode_audio(data, max_seconds=self.max_seconds), started, fetched)
        ref = decode_reference(
            data,
            sniff_container(data),
            target_rate=self.sampling_rate,
            max_seconds=self.max_seconds,
        )
        return self._reference_clip(ref, started, fetched)

    def _clip(self, decoded: DecodedAudio, started: float, fetched: float) -> Clip:
        """Downmix with ffmpeg's matrix, then resample with the chosen decoder's resampler."""
        mono = to_mono(decoded.samples, decoded.layout)
        if self.decoder == "fast":
            mono = resample(mono, decoded.sample_rate, self.sampling_rate)
        else:
            mono = sinc_resample(mono, decoded.sample_rate, self.sampling_rate)
        audio = AudioInfo(
            duration_s=round(decoded.duration_s, 6),
            sample_rate=decoded.sample_rate,
            channels=decoded.channels,
            decoder=self.decoder,
        )
        done = time.perf_counter()
        return Clip(mono, audio, fetch_s=fetched - started, decode_s=done - fetched)

    def _reference_clip(self, ref: ReferenceAudio, started: float, fetched: float) -> Clip:
        audio = AudioInfo(
            duration_s=round(ref.duration_s, 6),
            sample_rate=ref.sample_rate,
            channels=ref.channels,
            decoder="reference",
        )
        done = time.perf_counter()
        return Clip(ref.waveform, audio, fetch_s=fetched - started, decode_s=done - fetched)

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
            raise TooLarge(f"input is over {self.max_bytes} bytes")
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


def _from_array(
    item: Mapping[str, Any] | np.ndarray, default_rate: int, max_s: float
) -> DecodedAudio:
    # transformers accepts {"raw" | "array": samples, "sampling_rate": rate} or a bare array
    # already at the model's rate; so do we.
    if isinstance(item, np.ndarray):
        samples, rate = item, default_rate
    else:
        samples = item.get("array", item.get("raw"))
        rate = item.get("sampling_rate", default_rate)
        if samples is None or not isinstance(rate, int) or rate <= 0:
            raise InvalidReference('an array input is {"array": ndarray, "sampling_rate": int}')
    array = np.asarray(samples, dtype=np.float32)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0:
        raise DecodeFailed(f"an array input must be 1-D or (frames, channels), got {array.shape}")
    if not np.isfinite(array).all():
        raise DecodeFailed("array holds NaN or infinite samples")
    if array.shape[0] / rate > max_s:
        raise TooLarge(f"audio is longer than {max_s:g} s")
    return DecodedAudio(samples=array, sample_rate=rate)
