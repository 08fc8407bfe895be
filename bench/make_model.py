"""Build the bench model: a full-size wav2vec2-base keyword spotter with random weights.

Dev-only (needs torch: ``pip install -e ".[reference]"``). It writes ``bench/models/wav2vec2-base/``
in the Hub ONNX layout, shaped like ``superb/wav2vec2-base-superb-ks`` (12 layers, hidden 768,
group-norm feature encoder, 12 labels): the weights are random, so only speed means anything.
The folder is git-ignored; an existing complete folder is kept as it is.

    python -m bench.make_model
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from scripts.onnx_export import Spec

#: Where the bench keeps its model (git-ignored: about 450 MB for both graphs).
MODEL_DIR = Path(__file__).resolve().parent / "models" / "wav2vec2-base"
#: The files a complete model folder holds.
MODEL_FILES = (
    "config.json",
    "preprocessor_config.json",
    "onnx/model.onnx",
    "onnx/model_quantized.onnx",
)
#: Export example: two one-second clips, in samples at 16 kHz.
_EXAMPLE_SAMPLES = 16_000


def model_ready(folder: Path = MODEL_DIR) -> bool:
    """Whether every file of the model folder is there."""
    return all((folder / name).is_file() for name in MODEL_FILES)


def ensure_model(folder: Path = MODEL_DIR) -> Path:
    """The model folder, built first when it is missing or incomplete."""
    if model_ready(folder):
        return folder
    if importlib.util.find_spec("torch") is None:
        raise SystemExit(
            f"{folder} is missing and building it needs torch: pip install -e '.[reference]'"
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Built beside its final place and renamed, so an interrupted build never looks complete.
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    try:
        _build(staging)
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _spec() -> Spec:
    # Imported here: torch is only needed when the model has to be built.
    from scripts.feature_extractors import w2v_extractor
    from scripts.label_sets import KS_LABELS
    from scripts.model_specs import GROUP, WAVE_AXES
    from scripts.onnx_export import Spec

    return Spec(
        name="wav2vec2-base-bench",
        model_cls="Wav2Vec2ForSequenceClassification",
        config_cls="Wav2Vec2Config",
        config_kwargs=dict(GROUP),  # Wav2Vec2Config() defaults otherwise: wav2vec2-base
        extractor=w2v_extractor(return_attention_mask=False),
        input_names=["input_values"],
        labels=KS_LABELS,  # superb/wav2vec2-base-superb-ks's id2label order
        dynamic_axes={"input_values": dict(WAVE_AXES)},
        note="full-size wav2vec2-base, random weights",
    )


def _build(folder: Path) -> None:
    import torch

    from scripts.onnx_export import export_onnx, quantize
    from scripts.reference_models import build_model

    spec = _spec()
    model, extractor = build_model(spec)  # seeded from the spec's name
    model.config.save_pretrained(folder)
    extractor.save_pretrained(folder)
    rng = np.random.default_rng(0)
    example = torch.from_numpy(rng.uniform(-0.5, 0.5, (2, _EXAMPLE_SAMPLES)).astype(np.float32))
    fp32 = folder / "onnx" / "model.onnx"
    print(f"exporting {fp32.name} (wav2vec2-base, random weights) …", file=sys.stderr)
    export_onnx(model, spec, [example], fp32)
    print("quantizing to model_quantized.onnx (dynamic int8, QUInt8) …", file=sys.stderr)
    quantize(fp32, folder / "onnx" / "model_quantized.onnx")
    _check(model, fp32, example)


def _check(model: torch.nn.Module, fp32: Path, example: torch.Tensor) -> None:
    """Refuse a graph whose logits drift from torch's: a broken export would bench nonsense."""
    import onnxruntime as ort
    import torch

    with torch.no_grad():
        expected = model(input_values=example).logits.numpy()
    session = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"input_values": example.numpy()})
    diff = float(np.max(np.abs(expected - got)))
    if diff > 1e-3:
        raise RuntimeError(f"ONNX export differs from torch by {diff:.2e}")
    print(f"ONNX fp32 vs torch: max abs diff {diff:.1e}", file=sys.stderr)


def main() -> int:
    """Build the model folder unless it is already there."""
    existed = model_ready()
    folder = ensure_model()
    print(f"{'kept' if existed else 'built'} {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
