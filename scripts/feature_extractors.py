"""The feature extractors of the tiny test models, made from their arguments (no network).

Dev-only: used by ``scripts/model_specs.py`` and ``bench/make_model.py``; transformers is
imported only when an extractor is made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scripts.onnx_export import FeatureExtractor

SAMPLING_RATE = 16000


def w2v_extractor(return_attention_mask: bool) -> Callable[[], FeatureExtractor]:
    def make() -> FeatureExtractor:
        from transformers import Wav2Vec2FeatureExtractor

        return Wav2Vec2FeatureExtractor(  # type: ignore[no-untyped-call]
            feature_size=1,
            sampling_rate=SAMPLING_RATE,
            padding_value=0.0,
            do_normalize=True,
            return_attention_mask=return_attention_mask,
        )

    return make


def seamless_extractor() -> FeatureExtractor:
    from transformers import SeamlessM4TFeatureExtractor

    # Defaults of facebook/w2v-bert-2.0 (80 mel bins, stride 2 -> 160 features/frame).
    return SeamlessM4TFeatureExtractor(  # type: ignore[no-untyped-call]
        feature_size=80, num_mel_bins=80, sampling_rate=SAMPLING_RATE, stride=2
    )


AST_MEL_BINS = 16
AST_MAX_LENGTH = 100  # frames (10 ms hop) -> 1 s of audio


def ast_extractor() -> FeatureExtractor:
    from transformers import ASTFeatureExtractor

    return ASTFeatureExtractor(  # type: ignore[no-untyped-call]
        feature_size=1,
        sampling_rate=SAMPLING_RATE,
        num_mel_bins=AST_MEL_BINS,
        max_length=AST_MAX_LENGTH,
        do_normalize=True,
        return_attention_mask=False,
    )


WHISPER_MEL_BINS = 16
WHISPER_CHUNK_S = 1  # -> n_samples 16000, nb_max_frames 100


def whisper_extractor() -> FeatureExtractor:
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(  # type: ignore[no-untyped-call]
        feature_size=WHISPER_MEL_BINS,
        sampling_rate=SAMPLING_RATE,
        hop_length=160,
        chunk_length=WHISPER_CHUNK_S,
        n_fft=400,
    )
