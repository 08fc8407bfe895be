"""Build the bench models: full-size wav2vec2-base and AST classifiers with random weights.

Dev-only (needs torch: ``pip install -e ".[reference]"``). Each model goes to
``bench/models/<name>/`` in the Hub ONNX layout (``config.json``, ``preprocessor_config.json``,
``onnx/model.onnx`` fp32, ``onnx/model_quantized.onnx`` dynamic int8) plus ``torch/``, the same
weights as a transformers checkpoint for the peer (``bench/peer.py``). The architectures are
full size (wav2vec2-base: ``superb/wav2vec2-base-superb-ks``'s 12 layers, hidden 768,
group-norm encoder, 12 labels; AST: ``MIT/ast-finetuned-audioset-10-10-0.4593``'s 1,024 frames
x 128 mel bins, 12 layers, hidden 768); the weights are random, so only speed means anything.
The folders are git-ignored; a complete folder is kept as it is.

    python -m bench.make_model [wav2vec2-base] [ast-base]
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from scripts.onnx_export import Spec

#: Where the bench keeps its models (git-ignored: about 1 GB per model, both graphs and torch).
MODELS_DIR = Path(__file__).resolve().parent / "models"
#: The wav2vec2-base folder (``bench/queue.py`` defaults to it).
MODEL_DIR = MODELS_DIR / "wav2vec2-base"
#: The bench models by name.
MODEL_NAMES = ("wav2vec2-base", "ast-base")
#: The files a complete model folder holds.
MODEL_FILES = (
    "config.json",
    "preprocessor_config.json",
    "onnx/model.onnx",
    "onnx/model_quantized.onnx",
    "torch/config.json",
)
#: Export example for wav2vec2: two one-second clips, in samples at 16 kHz.
_EXAMPLE_SAMPLES = 16_000


def model_ready(folder: Path = MODEL_DIR) -> bool:
    """Whether every file of the model folder is there."""
    return all((folder / name).is_file() for name in MODEL_FILES)


def ensure_model(folder: Path = MODEL_DIR) -> Path:
    """The model folder (named after its model), built first when missing or incomplete."""
    if model_ready(folder):
        return folder
    if folder.name not in MODEL_NAMES:
        raise SystemExit(f"{folder}: no bench model of that name ({', '.join(MODEL_NAMES)})")
    if importlib.util.find_spec("torch") is None:
        raise SystemExit(
            f"{folder} is missing and building it needs torch: pip install -e '.[reference]'"
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Built beside its final place and renamed, so an interrupted build never looks complete.
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    try:
        _build(folder.name, staging)
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _spec(name: str) -> Spec:
    # Imported here: torch is only needed when a model has to be built.
    from transformers import ASTFeatureExtractor

    from scripts.feature_extractors import w2v_extractor
    from scripts.label_sets import AUDIOSET, KS_LABELS
    from scripts.model_specs import GROUP, WAVE_AXES
    from scripts.onnx_export import Spec

    if name == "ast-base":
        return Spec(
            name="ast-base-bench",
            model_cls="ASTForAudioClassification",
            config_cls="ASTConfig",
            config_kwargs={},  # ASTConfig() defaults: the AudioSet AST's 1024 x 128 input
            extractor=lambda: ASTFeatureExtractor(return_attention_mask=False),  # type: ignore[no-untyped-call]
            input_names=["input_values"],
            labels=AUDIOSET,
            dynamic_axes={"input_values": {0: "batch_size"}},
            note="full-size AST, random weights",
            classifier_attr="classifier.dense",
        )
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


def _example(name: str) -> torch.Tensor:
    import torch

    rng = np.random.default_rng(0)
    if name == "ast-base":
        return torch.from_numpy(rng.standard_normal((2, 1024, 128)).astype(np.float32))
    return torch.from_numpy(rng.uniform(-0.5, 0.5, (2, _EXAMPLE_SAMPLES)).astype(np.float32))


def _build(name: str, folder: Path) -> None:
    from scripts.onnx_export import export_onnx, quantize
    from scripts.reference_models import build_model

    spec = _spec(name)
    built, extractor = build_model(spec)  # seeded from the spec's name
    model: Any = built  # a transformers model: torch's Module typing hides its methods
    model.config.save_pretrained(folder)
    extractor.save_pretrained(folder)
    model.save_pretrained(folder / "torch")  # the peer's checkpoint: the same weights
    extractor.save_pretrained(folder / "torch")
    example = _example(name)
    fp32 = folder / "onnx" / "model.onnx"
    print(f"exporting {name}/onnx/{fp32.name} (random weights) …", file=sys.stderr)
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


def main(argv: list[str] | None = None) -> int:
    """Build the named model folders (default: all) unless they are already there."""
    for name in (argv if argv is not None else sys.argv[1:]) or MODEL_NAMES:
        folder = MODELS_DIR / name
        existed = model_ready(folder)
        ensure_model(folder)
        print(f"{'kept' if existed else 'built'} {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
