"""Checks of the exported graphs against the torch model they came from.

Dev-only, used by ``scripts/make_test_models.py``: the fp32 graph has to give torch's logits
to ``ONNX_ATOL`` on inputs of several lengths and batch sizes; how far the int8 graph lands
from fp32 is measured and reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from scripts.feature_extractors import SAMPLING_RATE
from scripts.onnx_export import FeatureExtractor, Spec
from scripts.reference_models import extract, stable_seed, to_inputs, torch_logits

if TYPE_CHECKING:
    import onnxruntime as ort

# Tolerance for ONNX fp32 vs torch logits.
ONNX_ATOL = 1e-4


def check_onnx(
    spec: Spec, model: torch.nn.Module, extractor: FeatureExtractor, fp32: Path, qpath: Path
) -> dict[str, Any]:
    """fp32 graph against torch (an error beyond ONNX_ATOL), int8 graph against fp32."""
    sess = ort_session(fp32)
    qsess = ort_session(qpath)
    actual_inputs = [i.name for i in sess.get_inputs()]
    if actual_inputs != spec.input_names:
        raise RuntimeError(f"{spec.name}: ONNX inputs {actual_inputs} != {spec.input_names}")
    max_diff = 0.0
    q_diff = 0.0
    q_top1 = 0
    q_total = 0
    for label, inputs in verification_batches(
        spec, extractor, np.random.default_rng(stable_seed(spec.name) + 2)
    ):
        ref = torch_logits(model, spec, inputs)
        got = ort_logits(sess, spec, inputs)
        diff = float(np.max(np.abs(ref - got)))
        if diff > ONNX_ATOL or ref.shape != got.shape:
            raise RuntimeError(f"{spec.name}: ONNX fp32 mismatch on {label}: max abs diff {diff}")
        max_diff = max(max_diff, diff)
        q = ort_logits(qsess, spec, inputs)
        q_diff = max(q_diff, float(np.max(np.abs(q - got))))
        q_top1 += int(np.sum(q.argmax(-1) == got.argmax(-1)))
        q_total += got.shape[0]
    return {"onnx_maxdiff": max_diff, "q_maxdiff": q_diff, "q_top1": f"{q_top1}/{q_total}"}


def ort_session(path: Path) -> ort.InferenceSession:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def ort_logits(sess: ort.InferenceSession, spec: Spec, inputs: list[torch.Tensor]) -> np.ndarray:
    feed = {n: x.numpy() for n, x in zip(spec.input_names, inputs, strict=True)}
    logits: np.ndarray = sess.run(["logits"], feed)[0]
    return logits


def verification_batches(
    spec: Spec, extractor: FeatureExtractor, rng: np.random.Generator
) -> list[tuple[str, list[torch.Tensor]]]:
    """Inputs of several lengths, batch 1 and batch 2 (padded + mask where exported)."""

    def wave(n: int) -> np.ndarray:
        tt = np.arange(n) / SAMPLING_RATE
        return (
            0.3 * np.sin(2 * np.pi * rng.uniform(100, 3000) * tt) + 0.1 * rng.standard_normal(n)
        ).astype(np.float32)

    cases = []
    for n in (3200, 8037, 23456, 48000):
        cases.append((f"b1 n={n}", to_inputs(spec, extract(extractor, [wave(n)]))))
    if "attention_mask" in spec.input_names:
        feats = extract(extractor, [wave(12000), wave(7003)])
        cases.append(("b2 padded 12000/7003 +mask", to_inputs(spec, feats)))
    else:
        feats = extract(extractor, [wave(9000), wave(9000)])
        cases.append(("b2 equal 9000", to_inputs(spec, feats)))
        if spec.dynamic_axes[spec.input_names[0]].get(1):
            feats = extract(extractor, [wave(5000), wave(5000)])
            cases.append(("b2 equal 5000", to_inputs(spec, feats)))
    return cases
