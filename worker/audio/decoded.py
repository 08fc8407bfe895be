"""The decoded-audio type, the bounds every input is held to, and the one collector of blocks.

Every input, a file or an array, becomes one `DecodedAudio`: mono float32 at the model's rate,
as the transformers pipeline hands it to the feature extractor, with its source's rate,
channels and duration for the record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from producer.errors import DecodeFailed, TooLarge, UnsupportedFormat

#: The duration cap of whole clips, and of windowed jobs (streamed: issue #22).
MAX_SECONDS_SETTING = "EARMARK_MAX_SECONDS"
MAX_WINDOWED_SECONDS_SETTING = "EARMARK_MAX_WINDOWED_SECONDS"
#: Lowest source sample rate accepted, in Hz; below this a header is broken, not audio.
MIN_SAMPLE_RATE = 1_000
#: Highest source sample rate accepted, in Hz (the top rate of studio interfaces).
MAX_SAMPLE_RATE = 384_000
#: Most source channels accepted; ffmpeg has no default layout past 8 and gives up well before
#: this.
MAX_CHANNELS = 32


@dataclass(frozen=True)
class DecodedAudio:
    """One input as the model's feature extractor takes it, and what its source was."""

    #: float32, 1-D, at the model's sampling rate.
    waveform: np.ndarray
    #: The source's rate in Hz and its channels, before downmix and resampling.
    sample_rate: int
    channels: int
    #: The source's length in seconds.
    duration_s: float


def check_source(rate: int, channels: int) -> None:
    """Refuse a source rate or channel count no real audio has (a broken or hostile header)."""
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise DecodeFailed(f"implausible sample rate {rate} Hz")
    if not 1 <= channels <= MAX_CHANNELS:
        raise UnsupportedFormat(f"{channels} channels; at most {MAX_CHANNELS} are supported")


class Blocks:
    """One file's mono blocks as they are decoded, held to the duration cap as they come.

    The blocks are mono at the model's rate, so the cap bounds their memory too (600 s at
    16 kHz: 38 MB) whatever rate or channel count the source claims; a header's claim is never
    used to size anything.
    """

    def __init__(self, max_seconds: float, setting: str = MAX_SECONDS_SETTING) -> None:
        self.max_seconds = max_seconds
        #: The setting that sets the cap, named when it is passed.
        self.setting = setting
        #: (rate, channels) of the first frame: the record's, and the unit of the cap.
        self.source: tuple[int, int] | None = None
        #: Source frames decoded so far.
        self.frames = 0
        self._blocks: list[np.ndarray] = []

    def count(self, frames: int, rate: int, channels: int) -> None:
        """Count source frames about to be converted; refuse a bad source or one past the cap."""
        check_source(rate, channels)
        if self.source is None:
            self.source = (rate, channels)
        self.frames += frames
        if self.frames > math.floor(self.max_seconds * self.source[0]):
            raise too_long(self.max_seconds, setting=self.setting)

    def extend(self, blocks: list[np.ndarray]) -> None:
        """Keep converted blocks of mono float32 samples."""
        self._blocks += [block.reshape(-1).astype(np.float32, copy=False) for block in blocks]

    def result(self, container: str) -> DecodedAudio:
        """The whole input; `container` names it in the error when nothing decoded."""
        if self.source is None or not self._blocks:
            raise DecodeFailed(f"{container}: no decodable samples")
        waveform = check_finite(
            np.concatenate(self._blocks) if len(self._blocks) > 1 else self._blocks[0]
        )
        rate, channels = self.source
        return DecodedAudio(
            np.ascontiguousarray(waveform, np.float32), rate, channels, self.frames / rate
        )


def check_finite(samples: np.ndarray) -> np.ndarray:
    """`samples`, unless they hold NaN or infinity (a hostile float file): DecodeFailed."""
    if not np.isfinite(samples).all():
        raise DecodeFailed("decoded samples contain NaN or infinity")
    return samples


def too_long(max_seconds: float, why: str = "", setting: str = MAX_SECONDS_SETTING) -> TooLarge:
    """Audio past the duration cap, and the setting that sets it; `why` says how it is known."""
    known = f", {why}" if why else ""
    return TooLarge(f"longer than {max_seconds:g} s{known} ({setting})")
