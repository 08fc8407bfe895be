"""Feature extractors: equal to transformers' own, clip by clip and in padded batches."""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import transformers
from numpy.typing import NDArray
from transformers import audio_utils, is_torch_available
from transformers.models.whisper import feature_extraction_whisper as whisper_module

from worker.features import (
    ASTExtractor,
    FeatureExtractor,
    SeamlessM4TExtractor,
    UnsupportedFeatureExtractor,
    Wav2Vec2Extractor,
    WhisperExtractor,
    feature_extractor_from_config,
)
from worker.features.spectrogram import mel_filter_bank, window_function

# AST's module, imported by name: attribute access through transformers' lazy modules refuses
# it without torch, though its numpy path needs torch only to pad (see ``ast_without_torch``).
ast_module = importlib.import_module(
    "transformers.models.audio_spectrogram_transformer.feature_extraction_audio_spectrogram_transformer"
)
# transformers warns that AST's 128 Kaldi filters on a 512-point FFT leave some empty; so they do.
pytestmark = pytest.mark.filterwarnings("ignore:At least one mel filter has all zero values")

#: Largest difference allowed from transformers' features (feature units).
TOLERANCE = 1e-4
#: Sampling rate of every test waveform (Hz).
RATE = 16_000

#: Preprocessor configs as the Hub ships them for the models we serve, plus small variants.
CONFIGS: dict[str, dict[str, Any]] = {
    "wav2vec2-superb-ks": {
        "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        "do_normalize": True,
        "feature_size": 1,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": False,
        "sampling_rate": 16000,
    },
    "wav2vec2-mask": {
        "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        "return_attention_mask": True,
    },
    "ast-audioset": {
        "feature_extractor_type": "ASTFeatureExtractor",
        "do_normalize": True,
        "feature_size": 1,
        "max_length": 1024,
        "mean": -4.2677393,
        "num_mel_bins": 128,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": False,
        "sampling_rate": 16000,
        "std": 4.5689974,
    },
    "ast-small": {
        "feature_extractor_type": "ASTFeatureExtractor",
        "num_mel_bins": 16,
        "max_length": 64,
    },
    "wav2vec2-raw": {
        "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        "do_normalize": False,
        "padding_value": 0.5,
        "return_attention_mask": True,
    },
    "whisper": {"feature_extractor_type": "WhisperFeatureExtractor"},
    "whisper-small": {
        "feature_extractor_type": "WhisperFeatureExtractor",
        "feature_size": 16,
        "chunk_length": 1,
    },
    "whisper-padded": {
        "feature_extractor_type": "WhisperFeatureExtractor",
        "feature_size": 16,
        "chunk_length": 1,
        "padding_value": 0.25,
    },
    "seamless-m4t": {
        "feature_extractor_type": "SeamlessM4TFeatureExtractor",
        "feature_size": 80,
        "num_mel_bins": 80,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": True,
        "sampling_rate": 16000,
        "stride": 2,
    },
}


#: Test waveforms by name, with their durations (s).
_SECONDS = {
    "noise-1s": 1.0,
    "tone-2.3s": 2.3,
    "silence-1s": 1.0,
    "noise-0.05s": 0.05,
    "noise-0.2s": 0.2,
    "chirp-1.337s": 1.337,
    "chirp-12s": 12.0,
    "noise-35s": 35.0,
}
#: The waveforms each config is checked on; the 35 s clip only where Whisper truncates it.
_COMMON = [name for name in _SECONDS if name != "noise-35s"]
#: (config, waveform, Whisper backend): transformers' Whisper takes a torch path when torch is
#: installed and a numpy one otherwise (CI); check ours against both where both exist.
CASES = [
    (config, wave, backend)
    for config in CONFIGS
    for wave in [*_COMMON, *(["noise-35s"] if config == "whisper" else [])]
    for backend in (["numpy", "installed"] if config.startswith("whisper") else ["numpy"])
]


def _waveform(name: str) -> NDArray[np.float32]:
    """The named clip: deterministic noise, two tones, a rising chirp, or digital silence."""
    t = np.arange(int(_SECONDS[name] * RATE)) / RATE
    kind = name.split("-")[0]
    if kind == "silence":
        wave = np.zeros_like(t)
    elif kind == "tone":
        wave = 0.5 * np.sin(2 * np.pi * 440.0 * t) + 0.2 * np.sin(2 * np.pi * 3000.0 * t)
    elif kind == "chirp":
        wave = 0.3 * np.sin(2 * np.pi * (100.0 + 1500.0 * t) * t)
    else:
        wave = 0.1 * np.random.default_rng(zlib.crc32(name.encode())).standard_normal(len(t))
    return wave.astype(np.float32)


class _Tensor(np.ndarray):
    """Just enough of ``torch.Tensor`` for AST's numpy path, which pads with torch."""

    def numpy(self) -> NDArray[Any]:
        return np.asarray(self)


class _ZeroPad2d:
    def __init__(self, padding: tuple[int, int, int, int]) -> None:
        self.bottom = padding[3]

    def __call__(self, x: NDArray[Any]) -> _Tensor:
        return np.pad(np.asarray(x), ((0, self.bottom), (0, 0))).view(_Tensor)


@pytest.fixture(autouse=True)
def ast_without_torch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Let transformers' AST extractor run where torch is absent (CI): it only pads with torch."""
    if not is_torch_available():
        shim = SimpleNamespace(
            from_numpy=lambda a: np.asarray(a).view(_Tensor),
            nn=SimpleNamespace(ZeroPad2d=_ZeroPad2d),
        )
        monkeypatch.setattr(ast_module, "torch", shim, raising=False)
    yield


def _reference(config: Mapping[str, Any]) -> Any:
    kind = config["feature_extractor_type"]
    # AST's class sits behind a torch gate at the top level of transformers; its module has it.
    cls = (
        ast_module.ASTFeatureExtractor
        if kind == "ASTFeatureExtractor"
        else getattr(transformers, kind)
    )
    return cls.from_dict(dict(config))


def _run_reference(reference: Any, waveform: NDArray[np.float32], **kwargs: Any) -> dict[str, Any]:
    return dict(reference(waveform, sampling_rate=RATE, return_tensors="np", **kwargs))


def _numpy_whisper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(whisper_module, "is_torch_available", lambda: False)


@pytest.mark.parametrize(("config_name", "wave_name", "backend"), CASES)
def test_each_clip_equals_transformers(
    config_name: str, wave_name: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "numpy":
        _numpy_whisper(monkeypatch)
    config = CONFIGS[config_name]
    waveform = _waveform(wave_name)
    reference = _reference(config)
    ours = feature_extractor_from_config(config)

    expected = _run_reference(reference, waveform)[ours.input_name]
    got = ours([waveform])

    assert got[ours.input_name].dtype == np.float32
    assert got[ours.input_name].shape == expected.shape
    assert np.abs(got[ours.input_name] - expected).max() <= TOLERANCE
    assert got["attention_mask"].dtype == np.int64
    assert got["attention_mask"].shape[0] == 1


@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_a_padded_batch_gives_each_clip_its_own_features(
    config_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _numpy_whisper(monkeypatch)
    config = CONFIGS[config_name]
    names = ["noise-0.2s", "tone-2.3s", "noise-0.05s", "chirp-12s", "chirp-1.337s", "silence-1s"]
    waveforms = [_waveform(name) for name in names]
    reference = _reference(config)
    ours = feature_extractor_from_config(config)

    batch = ours(waveforms)
    values, mask = batch[ours.input_name], batch["attention_mask"]

    assert values.shape[0] == mask.shape[0] == len(waveforms)
    for row, waveform in enumerate(waveforms):
        alone = _run_reference(reference, waveform, return_attention_mask=True)
        expected = alone[ours.input_name][0]
        valid = _valid_length(ours, alone, waveform)
        time_axis = -1 if isinstance(ours, WhisperExtractor) else 0
        got = np.moveaxis(values[row], time_axis, 0)
        expected = np.moveaxis(expected, time_axis, 0)
        assert np.abs(got[: len(expected)] - expected).max() <= TOLERANCE
        assert mask[row, :valid].all() and not mask[row, valid:].any()
        if not ours.fixed_length:
            assert (got[len(expected) :] == config.get("padding_value", 0.0)).all()
            if "attention_mask" in alone:
                np.testing.assert_array_equal(
                    mask[row, : len(expected)], alone["attention_mask"][0]
                )


def _valid_length(ours: FeatureExtractor, alone: Mapping[str, Any], waveform: NDArray[Any]) -> int:
    if isinstance(ours, ASTExtractor):
        return min(max(0, 1 + (len(waveform) - 400) // 160), ours.max_length)
    return int(np.asarray(alone["attention_mask"]).sum())


@pytest.mark.parametrize(
    ("config_name", "kind", "input_name", "fixed_length", "returns_mask"),
    [
        ("wav2vec2-superb-ks", Wav2Vec2Extractor, "input_values", False, False),
        ("wav2vec2-mask", Wav2Vec2Extractor, "input_values", False, True),
        ("ast-audioset", ASTExtractor, "input_values", True, False),
        ("whisper", WhisperExtractor, "input_features", True, False),
        ("seamless-m4t", SeamlessM4TExtractor, "input_features", False, True),
    ],
)
def test_config_picks_the_extractor(
    config_name: str, kind: type, input_name: str, fixed_length: bool, returns_mask: bool
) -> None:
    ours = feature_extractor_from_config(CONFIGS[config_name])
    assert isinstance(ours, kind)
    assert (ours.sampling_rate, ours.input_name) == (RATE, input_name)
    assert (ours.fixed_length, ours.returns_attention_mask) == (fixed_length, returns_mask)


@pytest.mark.parametrize(
    "config",
    [
        {"feature_extractor_type": "ClapFeatureExtractor"},
        {"sampling_rate": 16000},
        {"feature_extractor_type": "Wav2Vec2FeatureExtractor", "padding_side": "left"},
        {"feature_extractor_type": "ASTFeatureExtractor", "max_length": "1024"},
    ],
)
def test_unsupported_configs_are_refused(config: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedFeatureExtractor) as caught:
        feature_extractor_from_config(config)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value)


def test_unknown_type_names_the_supported_ones() -> None:
    with pytest.raises(UnsupportedFeatureExtractor, match="WhisperFeatureExtractor"):
        feature_extractor_from_config({"feature_extractor_type": "ClapFeatureExtractor"})


@pytest.mark.parametrize(
    ("config_name", "samples", "truncated"),
    [
        ("wav2vec2-superb-ks", 35 * RATE, False),
        ("seamless-m4t", 35 * RATE, False),
        ("ast-audioset", 400 + 1023 * 160, False),
        ("ast-audioset", 400 + 1024 * 160, True),
        ("whisper", 30 * RATE, False),
        ("whisper", 30 * RATE + 1, True),
    ],
)
def test_truncated(config_name: str, samples: int, truncated: bool) -> None:
    assert feature_extractor_from_config(CONFIGS[config_name]).truncated(samples) is truncated


def test_bad_batches_are_refused() -> None:
    ours = feature_extractor_from_config(CONFIGS["wav2vec2-superb-ks"])
    with pytest.raises(ValueError, match="at least one"):
        ours([])
    with pytest.raises(ValueError, match="1-D"):
        ours([np.zeros((2, 100), dtype=np.float32)])


@pytest.mark.parametrize(
    "options",
    [
        {"norm": "slaney", "mel_scale": "slaney", "min_frequency": 0.0, "max_frequency": 8000.0},
        {"norm": None, "mel_scale": "htk", "min_frequency": 30.0, "max_frequency": 7600.0},
        {"norm": "slaney", "mel_scale": "htk", "min_frequency": 0.0, "max_frequency": 8000.0},
        {
            "norm": None,
            "mel_scale": "kaldi",
            "min_frequency": 20.0,
            "max_frequency": 8000.0,
            "triangularize_in_mel_space": True,
        },
    ],
)
def test_mel_filter_bank_equals_transformers(options: dict[str, Any]) -> None:
    shape: dict[str, Any] = {
        "num_frequency_bins": 257,
        "num_mel_filters": 40,
        "sampling_rate": RATE,
    }
    expected = audio_utils.mel_filter_bank(**shape, **options)
    np.testing.assert_allclose(mel_filter_bank(**shape, **options), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["boxcar", "hamming", "hann", "povey"])
@pytest.mark.parametrize("periodic", [True, False])
def test_window_function_equals_transformers(name: Any, periodic: bool) -> None:
    expected = audio_utils.window_function(400, name, periodic=periodic)
    np.testing.assert_array_equal(window_function(name, 400, periodic=periodic), expected)
