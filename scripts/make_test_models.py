#!/usr/bin/env python
"""Generate the tiny test models, golden audio clips and golden reference outputs.

Dev-only helper: nothing in the service imports this file.

Run from the repository root:

    .venv/bin/python scripts/make_test_models.py

Needs torch, transformers, onnx, onnxruntime, soundfile, numpy and an ``ffmpeg``
binary on PATH (the reference pipeline decodes the clips with ffmpeg, exactly as a
user calling ``pipeline(...)(path)`` would).  No network access is needed: every
model is built from a config with random (seeded) weights.

It writes:

* ``tests/data/models/<name>/``: one tiny random-weight audio-classification model per
  family, in the Hugging Face Hub ONNX layout used by Xenova/transformers.js
  (``config.json``, ``preprocessor_config.json``, ``onnx/model.onnx`` (fp32) and
  ``onnx/model_quantized.onnx`` (dynamic int8, QUInt8 weights)).
* ``tests/data/audio/golden/*.wav``: small deterministic clips (16 kHz mono).
* ``tests/data/golden/<name>.json``: outputs of the reference implementation
  (``transformers.pipeline("audio-classification")`` on the *torch* model, fed the
  clip's file path), plus the raw torch logits.

Everything is seeded, so re-running produces the same files (on the same library
versions / CPU).
"""

# The pieces live beside this file: the models in model_specs.py (labels in label_sets.py,
# extractors in feature_extractors.py), the clips in golden_audio.py, the torch models in
# reference_models.py, the ONNX export and quantisation in onnx_export.py and the checks of
# the exported graphs in onnx_checks.py.

from __future__ import annotations

import argparse
import json
import shutil
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file: make `scripts.*` importable
    sys.path.insert(0, str(ROOT))

from scripts.golden_audio import AUDIO_DIR, make_golden_audio, read_clip_like_pipeline  # noqa: E402
from scripts.model_specs import SPECS  # noqa: E402
from scripts.onnx_checks import check_onnx  # noqa: E402
from scripts.onnx_export import FeatureExtractor, Spec, export_onnx, quantize, reset_caches  # noqa: E402
from scripts.reference_models import (  # noqa: E402
    SEED,
    build_model,
    calibrate_classifier,
    extract,
    stable_seed,
    to_inputs,
    torch_logits,
)

if TYPE_CHECKING:
    from transformers import AudioClassificationPipeline, FeatureExtractionMixin

DATA_DIR = ROOT / "tests" / "data"
MODELS_DIR = DATA_DIR / "models"
GOLDEN_DIR = DATA_DIR / "golden"

# --------------------------------------------------------------------------------------
# Golden outputs (reference = transformers pipeline on the torch model)
# --------------------------------------------------------------------------------------


def golden_outputs(
    spec: Spec, model: torch.nn.Module, extractor: FeatureExtractor, clips: list[Path]
) -> dict[str, Any]:
    import transformers
    from transformers import pipeline

    # The extractors our specs make are all transformers FeatureExtractionMixins.
    pipe = pipeline(
        "audio-classification",
        model=model,
        feature_extractor=cast("FeatureExtractionMixin", extractor),
        device="cpu",
    )
    result: dict[str, Any] = {
        "model": spec.name,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "clips": {},
    }
    for path in clips:
        result["clips"][path.name] = clip_outputs(spec, model, extractor, pipe, path)
    return result


def clip_outputs(
    spec: Spec,
    model: torch.nn.Module,
    extractor: FeatureExtractor,
    pipe: AudioClassificationPipeline,
    path: Path,
) -> dict[str, Any]:
    """The pipeline's scores of one clip and its logits, checked against a direct forward pass."""
    label2id = model.config.label2id
    reset_caches(model)
    entry: dict[str, Any] = {}
    entry["default"] = [
        {"label": r["label"], "score": r["score"]} for r in pipe(str(path), top_k=None)
    ]
    none = pipe(str(path), top_k=None, function_to_apply="none")
    if spec.name == "wav2vec2":
        entry["sigmoid"] = [
            {"label": r["label"], "score": r["score"]}
            for r in pipe(str(path), top_k=None, function_to_apply="sigmoid")
        ]
        entry["none"] = [{"label": r["label"], "score": r["score"]} for r in none]
    logits = [0.0] * len(label2id)
    for r in none:
        logits[label2id[r["label"]]] = r["score"]
    # Cross-check against a direct forward pass (same decode + extractor + model).
    direct = torch_logits(
        model, spec, to_inputs(spec, extract(extractor, [read_clip_like_pipeline(path)]))
    )[0]
    if not np.allclose(direct, np.asarray(logits, dtype=np.float32), atol=1e-6, rtol=0):
        raise RuntimeError(f"{spec.name}/{path.name}: pipeline logits differ from direct forward")
    entry["logits"] = logits
    return entry


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def process(spec: Spec, clips: list[Path], clip_waves: list[np.ndarray]) -> dict[str, Any]:
    model, extractor = build_model(spec)
    scale = calibrate_classifier(model, extractor, spec, clip_waves)
    fp32, qpath = write_model(spec, model, extractor)
    checks = check_onnx(spec, model, extractor, fp32, qpath)
    golden = write_golden(spec, model, extractor, clips)
    return summary(spec, scale, fp32, qpath, checks, golden)


def write_model(
    spec: Spec, model: torch.nn.Module, extractor: FeatureExtractor
) -> tuple[Path, Path]:
    """The model's folder in the Hub ONNX layout; returns the fp32 and int8 graphs' paths."""
    out_dir = MODELS_DIR / spec.name
    if out_dir.exists():
        shutil.rmtree(out_dir)
    (out_dir / "onnx").mkdir(parents=True)
    model.config.architectures = [spec.model_cls]
    model.config.save_pretrained(out_dir)
    extractor.save_pretrained(out_dir)

    # Export from a batch-2 example (padded + mask where the mask is an input).
    rng = np.random.default_rng(stable_seed(spec.name) + 1)
    n1, n2 = (16000, 11000) if "attention_mask" in spec.input_names else (16000, 16000)
    ex_waves = [
        rng.uniform(-0.5, 0.5, n1).astype(np.float32),
        rng.uniform(-0.5, 0.5, n2).astype(np.float32),
    ]
    example = to_inputs(spec, extract(extractor, ex_waves))
    fp32 = out_dir / "onnx" / "model.onnx"
    qpath = out_dir / "onnx" / "model_quantized.onnx"
    export_onnx(model, spec, example, fp32)
    quantize(fp32, qpath)
    return fp32, qpath


def write_golden(
    spec: Spec, model: torch.nn.Module, extractor: FeatureExtractor, clips: list[Path]
) -> dict[str, Any]:
    """``tests/data/golden/<name>.json``; returns what it holds."""
    golden = golden_outputs(spec, model, extractor, clips)
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    with open(GOLDEN_DIR / f"{spec.name}.json", "w") as f:
        json.dump(golden, f, indent=1, ensure_ascii=False)
        f.write("\n")
    return golden


def summary(
    spec: Spec,
    scale: float,
    fp32: Path,
    qpath: Path,
    checks: dict[str, Any],
    golden: dict[str, Any],
) -> dict[str, Any]:
    """One row of the table ``main`` prints."""
    # margins on the golden clips (top-1 minus top-2 of the default scores)
    margins = [
        e["default"][0]["score"] - e["default"][1]["score"] for e in golden["clips"].values()
    ]
    top1 = sorted({e["default"][0]["label"] for e in golden["clips"].values()})
    # smallest gap between any two logits of one clip (how robust the full ordering is)
    gaps = [
        float(np.min(np.diff(np.sort(np.asarray(e["logits"]))))) for e in golden["clips"].values()
    ]
    return {
        "name": spec.name,
        "inputs": ",".join(spec.input_names),
        "labels": len(spec.labels),
        "scale": scale,
        "fp32_kb": fp32.stat().st_size / 1024,
        "q_kb": qpath.stat().st_size / 1024,
        "onnx_maxdiff": checks["onnx_maxdiff"],
        "q_maxdiff": checks["q_maxdiff"],
        "q_top1": checks["q_top1"],
        "min_margin": min(margins),
        "n_top1": len(top1),
        "min_gap": min(gaps),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", help="only these model names")
    args = parser.parse_args(argv)

    if shutil.which("ffmpeg") is None:
        print("ffmpeg is required (the reference pipeline decodes files with it)", file=sys.stderr)
        return 1

    quiet_and_reproducible()
    clips = make_golden_audio(SEED)
    clip_waves = [read_clip_like_pipeline(p) for p in clips]

    specs = [s for s in SPECS if not args.only or s.name in args.only]
    rows = []
    failures = []
    for spec in specs:
        try:
            rows.append(process(spec, clips, clip_waves))
        except Exception as e:  # keep going, report at the end
            failures.append((spec.name, f"{type(e).__name__}: {e}"))
            print(f"!! {spec.name}: {type(e).__name__}: {e}", file=sys.stderr)

    print_table(rows, clips)
    for name, err in failures:
        print(f"FAILED {name}: {err}")
    return 1 if failures else 0


def quiet_and_reproducible() -> None:
    """One torch thread, and no warnings or logs that are known to be harmless."""
    torch.set_num_threads(1)  # bit-for-bit reproducible reductions
    warnings.filterwarnings(
        "ignore", message="Support for mismatched key_padding_mask"
    )  # WavLM, harmless
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]


def print_table(rows: list[dict[str, Any]], clips: list[Path]) -> None:
    """One line per model built, then the sizes of the clips and of the models."""
    hdr = (
        f"{'model':20} {'inputs':30} {'lab':>3} {'clf x':>7} {'fp32 KB':>8} {'int8 KB':>8} "
        f"{'onnx diff':>9} {'int8 diff':>9} {'int8 top1':>9} {'min marg':>9} {'#top1':>5}"
    )
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(
            f"{r['name']:20} {r['inputs']:30} {r['labels']:3d} {r['scale']:7.2f} "
            f"{r['fp32_kb']:8.1f} {r['q_kb']:8.1f} {r['onnx_maxdiff']:9.2e} "
            f"{r['q_maxdiff']:9.2e} {r['q_top1']:>9} "
            f"{r['min_margin']:9.2e} {r['n_top1']:5d} {r['min_gap']:9.2e}"
        )
    audio_kb = dir_size(AUDIO_DIR) / 1024
    models_mb = dir_size(MODELS_DIR) / 1024 / 1024 if MODELS_DIR.exists() else 0.0
    print(f"\ngolden audio: {len(clips)} clips, {audio_kb:.1f} KB; models: {models_mb:.2f} MB")


if __name__ == "__main__":
    sys.exit(main())
