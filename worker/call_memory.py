"""The memory one clip's model call takes, estimated from the model's config, and the longest
clip that ``EARMARK_MAX_CALL_MB`` allows.

Batches are bounded by ``EARMARK_MAX_BATCH_SECONDS``; a longer clip runs alone, and its
activations grow with it: linearly in the convolutional front end, and with the square of its
frames in attention, as in the reference pipeline. Past the bound the call would take the
process down (out of memory), so the clip gets a ``too_large`` record instead. Families whose
input has a fixed length (AST, Whisper) take the same memory whatever the clip: no bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from producer.errors import TooLarge

#: Activations are fp32 in every graph (q8 and int8 graphs keep them so around integer products).
_FLOAT = 4
_MB = 1e6
#: Live copies of the first convolution's output at the front end's peak, as measured on
#: wav2vec2-base: one clip's resident growth in a pool process (no bench command measures it
#: yet; how, and the figures: bench/README.md, "Figures behind constants in the code").
CONV_COPIES = 2.0
#: Live copies of one layer's attention scores (heads x frames x frames) at the call's peak,
#: measured as above: fewer without ONNX Runtime's arena, more with it (it grows by powers of
#: two); set just above the largest measured.
ATTENTION_COPIES = 4.2


@dataclass(frozen=True)
class CallMemory:
    """One clip's call: bytes a sample of audio in the front end, bytes a (frame, frame) pair
    in attention, and samples a frame."""

    front_end_per_sample: float
    attention_per_frame_pair: float
    samples_per_frame: float

    def estimate(self, samples: int) -> float:
        """Bytes of activations at the call's peak for a clip of ``samples`` samples."""
        frames = samples / self.samples_per_frame
        return max(self.front_end_per_sample * samples, self.attention_per_frame_pair * frames**2)

    def longest(self, budget: float) -> int:
        """The most samples a clip may have for its estimate to stay within ``budget`` bytes."""
        front_end = budget / self.front_end_per_sample
        attention = self.samples_per_frame * math.sqrt(budget / self.attention_per_frame_pair)
        return math.floor(min(front_end, attention))


def call_memory(config: Mapping[str, Any], preprocessor: Mapping[str, Any]) -> CallMemory | None:
    """The model's per-clip memory terms; None where a clip's length does not change them."""
    heads = config.get("num_attention_heads")  # Whisper's are `encoder_attention_heads`
    if not isinstance(heads, int):
        return None
    attention = ATTENTION_COPIES * heads * _FLOAT
    strides, channels = config.get("conv_stride"), config.get("conv_dim")
    if strides and channels:  # wav2vec2, HuBERT, WavLM, UniSpeech, SEW, data2vec, conformer
        samples_per_frame = math.prod(strides) * config.get("squeeze_factor", 1)
        front_end = CONV_COPIES * channels[0] / strides[0] * _FLOAT
        return CallMemory(front_end, attention, samples_per_frame)
    if "stride" in preprocessor:  # wav2vec2-bert: 10 ms filter-bank frames, stacked by `stride`
        samples_per_frame = preprocessor.get("sampling_rate", 16000) / 100 * preprocessor["stride"]
        front_end = CONV_COPIES * config.get("hidden_size", 0) / samples_per_frame * _FLOAT
        return CallMemory(max(front_end, _FLOAT), attention, samples_per_frame)
    return None  # AST: a fixed spectrogram, whatever the clip


@dataclass(frozen=True)
class CallBound:
    """Refuses a clip whose model call would need more than ``max_mb`` MB (0: no bound)."""

    memory: CallMemory | None
    max_mb: int
    sampling_rate: int

    @property
    def longest_samples(self) -> int | None:
        """The longest clip accepted, in samples; None when any length is."""
        if self.memory is None or self.max_mb == 0:
            return None
        return self.memory.longest(self.max_mb * _MB)

    @property
    def longest_seconds(self) -> float | None:
        """The longest clip accepted, in seconds; None when any length is."""
        longest = self.longest_samples
        return None if longest is None else longest / self.sampling_rate

    def check(self, samples: int) -> None:
        """Raise TooLarge when a clip of ``samples`` samples is over the bound."""
        longest = self.longest_samples
        if longest is None or samples <= longest or self.memory is None:
            return
        rate, needed = self.sampling_rate, self.memory.estimate(samples) / _MB
        raise TooLarge(
            f"{samples / rate:.1f} s needs about {needed:,.0f} MB in one model call "
            f"(EARMARK_MAX_CALL_MB is {self.max_mb}: clips up to {longest / rate:.1f} s)"
        )
