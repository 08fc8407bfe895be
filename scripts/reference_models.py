"""The reference side of the test models: seeded random-weight torch models and their logits.

Dev-only (needs torch and transformers): ``scripts/make_test_models.py`` builds each tiny test
model here from its ``Spec``, runs its feature extractor the way the pipeline does and
calibrates its classifier; ``bench/make_model.py`` builds its full-size model with
``build_model``. Weights are seeded from ``SEED`` and the model's name.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import torch

from scripts.feature_extractors import SAMPLING_RATE
from scripts.label_sets import label_maps
from scripts.onnx_export import FeatureExtractor, Spec, reset_caches

#: Seed of every model's weights (with its name) and of the golden clips.
SEED = 20240611

# Target spread (std over labels, averaged over the golden clips) of the logits after
# rescaling the classifier, so that softmax scores are far from uniform and top-1
# margins are comfortably larger than float noise.
TARGET_LOGIT_STD = 2.5


def stable_seed(name: str) -> int:
    return (SEED + zlib.crc32(name.encode())) % (2**31)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


def get_submodule(model: torch.nn.Module, dotted: str) -> torch.nn.Module:
    mod = model
    for part in dotted.split("."):
        mod = getattr(mod, part)
    return mod


def build_model(spec: Spec) -> tuple[torch.nn.Module, FeatureExtractor]:
    import transformers

    seed_everything(stable_seed(spec.name))
    config_cls = getattr(transformers, spec.config_cls)
    model_cls = getattr(transformers, spec.model_cls)
    config = config_cls(**spec.config_kwargs, **label_maps(spec.labels))
    model = model_cls(config)
    model.eval()
    extractor = spec.extractor()
    return model, extractor


def extract(extractor: FeatureExtractor, waves: list[np.ndarray]) -> dict[str, torch.Tensor]:
    """Run the feature extractor the way the pipeline does (batched with padding)."""
    kwargs: dict[str, Any] = {"sampling_rate": SAMPLING_RATE, "return_tensors": "pt"}
    if len(waves) > 1:
        kwargs["padding"] = (
            "max_length" if extractor.__class__.__name__ == "WhisperFeatureExtractor" else True
        )
    feats = extractor(waves if len(waves) > 1 else waves[0], **kwargs)
    return dict(feats)


def to_inputs(spec: Spec, feats: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    out = []
    for name in spec.input_names:
        x = feats[name]
        if name == "attention_mask":
            x = x.to(torch.int64)
        out.append(x)
    return out


def torch_logits(model: torch.nn.Module, spec: Spec, inputs: list[torch.Tensor]) -> np.ndarray:
    with torch.no_grad():
        reset_caches(model)
        logits: np.ndarray = (
            model(**dict(zip(spec.input_names, inputs, strict=True))).logits.float().numpy()
        )
        return logits


def calibrate_classifier(
    model: torch.nn.Module, extractor: FeatureExtractor, spec: Spec, waves: list[np.ndarray]
) -> float:
    """Rescale/re-centre the classifier so the scores are non-degenerate.

    Random tiny encoders give pooled features that barely depend on the input, so the
    raw logits are ~0 and almost identical for every clip.  With L the logits of the
    golden clips (clips x labels) and mu their per-label mean over the clips, the
    classifier is changed so that its logits become ``scale * (L - mu)``, where
    ``scale`` makes the mean per-clip std over labels equal TARGET_LOGIT_STD.  The
    top-1 label then varies between clips and score margins are far above float noise.
    """
    with torch.no_grad():
        logits = np.stack(
            [torch_logits(model, spec, to_inputs(spec, extract(extractor, [w])))[0] for w in waves]
        )
        mu = logits.mean(axis=0)
        std = float(np.mean((logits - mu).std(axis=1)))
        scale = TARGET_LOGIT_STD / max(std, 1e-12)
        clf = get_submodule(model, spec.classifier_attr)
        bias = clf.bias if clf.bias is not None else torch.zeros(clf.out_features)
        new_bias = (bias - torch.from_numpy(mu).to(bias.dtype)) * scale
        clf.weight.mul_(scale)
        clf.bias = torch.nn.Parameter(new_bias)
        return scale
