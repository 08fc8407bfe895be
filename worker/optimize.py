"""Static int8: a graph whose activation scales are fixed by calibration, so it batches like fp32.

Dynamic int8 (``q8``) scales each activation by its batch's range, so a clip's scores depend on
its batch-mates and earmark runs it one clip per call. Here the scales are measured once, on the
clips of a manifest run through earmark's own loading and features (what inference sees), and
written into the graph: a clip then gives the same scores alone or in any batch.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from producer.errors import ConfigError, EarmarkError, InvalidReference, ModelError
from producer.settings import Settings
from producer.sources import from_manifest
from worker.classification import AudioClassificationPipeline, pipeline
from worker.classifier import Classifier
from worker.hub import ONNX_FILES, ModelFiles, resolve_model

#: Where the static int8 graph goes in a model folder (the ``int8`` dtype reads it).
STATIC_INT8_NAME = f"onnx/{ONNX_FILES['int8']}"

QuantFormat = Literal["qdq", "qoperator"]


@dataclass(frozen=True)
class StaticQuantization:
    """How to quantize: the graph format, which operators, and how many clips calibrate it."""

    #: QOperator writes QLinear* operators; QDQ keeps QuantizeLinear/DequantizeLinear pairs for
    #: ONNX Runtime to fuse at load time. QOperator ran faster on both models that
    #: `python -m bench.int8` measures (figures: bench/README.md).
    quant_format: QuantFormat = "qoperator"
    #: Whether the convolutional front end is quantized too, not only the matrix products. Its
    #: first convolution stays float either way: a group norm follows it, which magnifies the
    #: rounding of its quiet channels (bench/int8.py measures what each choice costs).
    convolutions: bool = False
    #: One scale per output channel of each weight, rather than one per tensor.
    per_channel: bool = True
    #: Weights in 7 bits rather than 8. x86 CPUs without VNNI multiply uint8 activations by int8
    #: weights with an instruction that sums pairs in 16 bits and saturates: with 8-bit weights
    #: tests/test_optimize.py's logits moved there far more than with VNNI. A graph is made once
    #: and runs on any CPU, so 7 bits always: with VNNI they cost nothing measurable, and uint8
    #: weights, which do not saturate either, ran slower (`python -m bench.int8`; figures:
    #: bench/README.md).
    reduce_range: bool = True
    #: Calibration clips read from the manifest at most (the rest are ignored).
    max_clips: int = 256
    #: Seconds of calibration audio at most: their features are held until quantization ends
    #: (30 minutes of 16 kHz features is 115 MB).
    max_seconds: float = 1800.0


def optimize(
    model: str,
    manifest: Path,
    *,
    out: Path | None = None,
    settings: Settings | None = None,
    options: StaticQuantization | None = None,
) -> Path:
    """Write a static int8 graph calibrated on ``manifest`` into ``out`` (a copy of the model
    folder) or, without ``out``, into the model's own folder; the graph's path."""
    settings = settings or Settings()
    options = options or StaticQuantization()
    if not manifest.is_file():  # before anything is copied
        raise ConfigError(f"calibration manifest {manifest} is not a file")
    folder = target_folder(model, out, settings)
    pipe = pipeline(model=str(folder), dtype="fp32", settings=settings)
    budget = round(options.max_seconds * pipe.classifier.sampling_rate)
    feeds = calibration_feeds(pipe, manifest, options.max_clips, budget)
    target = folder / STATIC_INT8_NAME
    quantize(pipe.classifier.files, feeds, target, options)
    _check_loads(target, pipe.classifier)
    return target


def target_folder(model: str, out: Path | None, settings: Settings) -> Path:
    """The folder the int8 graph goes in: ``model`` itself, or ``out`` made a copy of it."""
    files = resolve_model(model, revision=settings.model_revision, dtype="fp32")
    source = files.onnx_path.parent.parent
    if out is None:
        if not Path(model).expanduser().is_dir():
            raise ConfigError(f"{model} is not a local folder: give --out to write a copy")
        return source
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    if out.resolve() != source.resolve():
        # Hub snapshots hold links into a blob cache: copy what they point at.
        shutil.copytree(source, out, dirs_exist_ok=True, symlinks=False)
    return out


def calibration_feeds(
    pipe: AudioClassificationPipeline, manifest: Path, max_clips: int, max_samples: int
) -> list[dict[str, np.ndarray]]:
    """The graph's inputs for each manifest clip, one clip per call, as inference builds them,
    up to ``max_clips`` clips or until they hold ``max_samples`` samples."""
    feeds: list[dict[str, np.ndarray]] = []
    samples = 0
    for clip in _clips(pipe, manifest):
        features = pipe.classifier.extractor([clip])
        feeds.append({name: features[name] for name in pipe.classifier.model.input_names})
        samples += len(clip)
        if len(feeds) == max_clips or samples >= max_samples:
            break
    if not feeds:
        raise ConfigError(f"calibration manifest {manifest} names no clip")
    return feeds


def _clips(pipe: AudioClassificationPipeline, manifest: Path) -> Iterator[np.ndarray]:
    for ref in _refs(manifest):
        try:
            yield pipe.loader.load(ref).waveform
        except EarmarkError as e:
            raise ConfigError(f"calibration clip {ref}: {e}") from e


def _refs(manifest: Path) -> Iterator[str]:
    try:
        yield from (item.ref for item in from_manifest(manifest))
    except (InvalidReference, UnicodeDecodeError) as e:
        raise ConfigError(f"calibration manifest: {e}") from e


def quantize(
    files: ModelFiles,
    feeds: list[dict[str, np.ndarray]],
    target: Path,
    options: StaticQuantization,
) -> None:
    """Run onnxruntime's ``quantize_static`` on the fp32 graph with ``feeds`` as calibration."""
    try:
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as e:  # onnxruntime's quantization tools import the onnx package
        raise ConfigError(f"earmark optimize needs `pip install earmark[optimize]` ({e})") from e

    qdq = options.quant_format == "qdq"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="earmark-int8-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # Shape inference and ORT's graph fusions first, as onnxruntime recommends: quantization
        # then sees fused LayerNormalization and Gelu nodes it leaves in float.
        try:
            quant_pre_process(str(files.onnx_path), str(prepared), skip_symbolic_shape=True)
            quantize_static(
                str(prepared),
                str(target),
                _Feeds(feeds),
                quant_format=QuantFormat.QDQ if qdq else QuantFormat.QOperator,
                op_types_to_quantize=_op_types(options),
                nodes_to_exclude=_first_convolution(prepared),
                per_channel=options.per_channel,
                reduce_range=options.reduce_range,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
            )
        except Exception as e:  # onnx and onnxruntime raise untyped errors for graphs they refuse
            target.unlink(missing_ok=True)
            raise ModelError(f"cannot quantize {files.onnx_path.name}: {e}") from e


def _op_types(options: StaticQuantization) -> list[str]:
    ops = ["MatMul", "Gemm"]
    return [*ops, "Conv"] if options.convolutions else ops


def _first_convolution(graph: Path) -> list[str]:
    """The name of the graph's first Conv node (nodes are stored in topological order)."""
    import onnx

    model = onnx.load(str(graph), load_external_data=False)
    return next(([n.name] for n in model.graph.node if n.op_type == "Conv"), [])


class _Feeds:
    """ONNX Runtime's CalibrationDataReader over feeds held in memory."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self._feeds = iter(feeds)

    def get_next(self) -> dict[str, Any] | None:
        """The next call's inputs, or None when calibration is done."""
        return next(self._feeds, None)


def _check_loads(target: Path, fp32: Classifier) -> None:
    from worker.model import OnnxModel

    files = fp32.files
    int8 = ModelFiles(
        files.model_id, files.revision, "int8", files.config, files.preprocessor, target
    )
    model = OnnxModel(int8)
    if model.quantizes_activations:
        raise ModelError(f"{target.name} quantizes activations at run time: not a static graph")
