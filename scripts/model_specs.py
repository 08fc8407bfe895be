"""What each tiny test model is: its family, config, feature extractor, inputs and labels.

Dev-only: ``SPECS`` lists the models ``scripts/make_test_models.py`` builds, one per family
the service supports; ``bench/make_model.py`` reuses the pieces for its full-size model.
"""

from __future__ import annotations

from scripts.feature_extractors import (
    AST_MAX_LENGTH,
    AST_MEL_BINS,
    WHISPER_CHUNK_S,
    WHISPER_MEL_BINS,
    ast_extractor,
    seamless_extractor,
    w2v_extractor,
    whisper_extractor,
)
from scripts.label_sets import (
    AUDIOSET,
    AUDIOSET_ML,
    COMMANDS,
    DIGITS,
    EMOTIONS,
    KS_LABELS,
    LANG_CODES,
    LANGUAGES,
)
from scripts.onnx_export import Spec

# Tiny conv feature encoder: total stride 20 samples (800 frames/s, receptive field 40
# samples); a 0.2 s clip (3200 samples) yields 159 frames, a 400-sample clip 19.
TINY_CONV = dict(
    conv_dim=(16, 16, 16),
    conv_kernel=(10, 3, 3),
    conv_stride=(5, 2, 2),
    num_feat_extract_layers=3,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
)

TINY_TRANSFORMER = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    classifier_proj_size=16,
)


WAVE_AXES = {0: "batch_size", 1: "sequence_length"}


def wave_spec(
    name: str,
    model_cls: str,
    config_cls: str,
    labels: list[str],
    masked: bool,
    extra_cfg: dict[str, object] | None = None,
    note: str = "",
) -> Spec:
    cfg = {**TINY_TRANSFORMER, **TINY_CONV, **(extra_cfg or {})}
    inputs = ["input_values", "attention_mask"] if masked else ["input_values"]
    return Spec(
        name=name,
        model_cls=model_cls,
        config_cls=config_cls,
        config_kwargs=cfg,
        extractor=w2v_extractor(masked),
        input_names=inputs,
        labels=labels,
        dynamic_axes={n: dict(WAVE_AXES) for n in inputs},
        note=note,
    )


GROUP = dict(feat_extract_norm="group", do_stable_layer_norm=False)
LAYER = dict(feat_extract_norm="layer", do_stable_layer_norm=True)

SPECS: list[Spec] = [
    wave_spec(
        "wav2vec2",
        "Wav2Vec2ForSequenceClassification",
        "Wav2Vec2Config",
        KS_LABELS,
        masked=False,
        extra_cfg=GROUP,
        note="group norm, like superb/wav2vec2-base-superb-ks",
    ),
    wave_spec(
        "wav2vec2-masked",
        "Wav2Vec2ForSequenceClassification",
        "Wav2Vec2Config",
        DIGITS,
        masked=True,
        extra_cfg=LAYER,
        note="layer norm + stable layer norm",
    ),
    wave_spec(
        "hubert",
        "HubertForSequenceClassification",
        "HubertConfig",
        KS_LABELS,
        masked=False,
        extra_cfg=GROUP,
        note="group norm, like superb/hubert-base-superb-ks",
    ),
    wave_spec(
        "wavlm",
        "WavLMForSequenceClassification",
        "WavLMConfig",
        EMOTIONS,
        masked=True,
        extra_cfg={**LAYER, "num_buckets": 32, "max_bucket_distance": 100},
        note="layer norm (like microsoft/wavlm-large), small rel-pos buckets",
    ),
    wave_spec(
        "unispeech",
        "UniSpeechForSequenceClassification",
        "UniSpeechConfig",
        LANG_CODES,
        masked=True,
        extra_cfg=LAYER,
        note="layer norm (like microsoft/unispeech-large-1500h-cv)",
    ),
    wave_spec(
        "unispeech-sat",
        "UniSpeechSatForSequenceClassification",
        "UniSpeechSatConfig",
        KS_LABELS[:8],
        masked=False,
        extra_cfg=GROUP,
        note="group norm (like microsoft/unispeech-sat-base)",
    ),
    wave_spec(
        "sew",
        "SEWForSequenceClassification",
        "SEWConfig",
        COMMANDS,
        masked=False,
        extra_cfg={"feat_extract_norm": "group", "squeeze_factor": 2},
        note="group norm (like asapp/sew-tiny), squeeze_factor 2",
    ),
    wave_spec(
        "sew-d",
        "SEWDForSequenceClassification",
        "SEWDConfig",
        EMOTIONS,
        masked=False,
        extra_cfg={
            "feat_extract_norm": "group",
            "squeeze_factor": 2,
            "max_position_embeddings": 64,
            "position_buckets": 16,
        },
        note="group norm (like asapp/sew-d-tiny), squeeze_factor 2",
    ),
    wave_spec(
        "data2vec-audio",
        "Data2VecAudioForSequenceClassification",
        "Data2VecAudioConfig",
        KS_LABELS,
        masked=True,
        extra_cfg={"num_conv_pos_embeddings": 5, "conv_pos_kernel_size": 5},
        note="always layer norm in the conv encoder (like facebook/data2vec-audio-base)",
    ),
    wave_spec(
        "wav2vec2-conformer",
        "Wav2Vec2ConformerForSequenceClassification",
        "Wav2Vec2ConformerConfig",
        KS_LABELS[:7],
        masked=True,
        extra_cfg={
            "feat_extract_norm": "layer",
            "position_embeddings_type": "rotary",
            "conv_depthwise_kernel_size": 7,
        },
        note="layer norm, rotary positions (like facebook/wav2vec2-conformer-rope-large)",
    ),
    Spec(
        name="wav2vec2-bert",
        model_cls="Wav2Vec2BertForSequenceClassification",
        config_cls="Wav2Vec2BertConfig",
        config_kwargs={
            **TINY_TRANSFORMER,
            "feature_projection_input_dim": 160,
            "conv_depthwise_kernel_size": 7,
            "left_max_position_embeddings": 16,
            "right_max_position_embeddings": 4,
        },
        extractor=seamless_extractor,
        input_names=["input_features", "attention_mask"],
        labels=LANGUAGES[:8],
        dynamic_axes={
            "input_features": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: "sequence_length"},
        },
        note="SeamlessM4TFeatureExtractor (80 mel bins, stride 2)",
    ),
    Spec(
        name="ast",
        model_cls="ASTForAudioClassification",
        config_cls="ASTConfig",
        config_kwargs={
            **{k: v for k, v in TINY_TRANSFORMER.items() if k != "classifier_proj_size"},
            "num_mel_bins": AST_MEL_BINS,
            "max_length": AST_MAX_LENGTH,
            "patch_size": 16,
            "frequency_stride": 10,
            "time_stride": 10,
        },
        extractor=ast_extractor,
        input_names=["input_values"],  # ASTForAudioClassification / ASTFeatureExtractor name
        labels=AUDIOSET,
        dynamic_axes={"input_values": {0: "batch_size"}},
        note=f"fixed input [batch, {AST_MAX_LENGTH}, {AST_MEL_BINS}]",
        classifier_attr="classifier.dense",
    ),
    Spec(
        name="ast-multilabel",
        model_cls="ASTForAudioClassification",
        config_cls="ASTConfig",
        config_kwargs={
            **{k: v for k, v in TINY_TRANSFORMER.items() if k != "classifier_proj_size"},
            "num_mel_bins": AST_MEL_BINS,
            "max_length": AST_MAX_LENGTH,
            "patch_size": 16,
            "frequency_stride": 10,
            "time_stride": 10,
            "problem_type": "multi_label_classification",
        },
        extractor=ast_extractor,
        input_names=["input_values"],
        labels=AUDIOSET_ML,
        dynamic_axes={"input_values": {0: "batch_size"}},
        note="problem_type=multi_label_classification (pipeline default: sigmoid)",
        classifier_attr="classifier.dense",
    ),
    Spec(
        name="whisper",
        model_cls="WhisperForAudioClassification",
        config_cls="WhisperConfig",
        config_kwargs={
            "num_mel_bins": WHISPER_MEL_BINS,
            "d_model": 32,
            "encoder_layers": 2,
            "encoder_attention_heads": 2,
            "encoder_ffn_dim": 64,
            "decoder_layers": 1,
            "decoder_attention_heads": 2,
            "decoder_ffn_dim": 64,
            "max_source_positions": WHISPER_CHUNK_S * 100 // 2,
            "max_target_positions": 32,
            "classifier_proj_size": 16,
            # larger init so the conv front-end is not drowned by the sinusoidal position
            # embeddings (with 0.02 every clip gives ~the same pooled features)
            "init_std": 0.2,
        },
        extractor=whisper_extractor,
        input_names=["input_features"],
        labels=LANGUAGES,
        dynamic_axes={"input_features": {0: "batch_size"}},
        note=f"fixed input [batch, {WHISPER_MEL_BINS}, {WHISPER_CHUNK_S * 100}], init_std 0.2",
    ),
]
