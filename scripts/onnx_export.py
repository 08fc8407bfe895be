"""Export a torch audio-classification model to ONNX and quantise it, in the Hub ONNX layout.

Dev-only (needs torch, onnx and onnxruntime): shared by ``scripts/make_test_models.py`` (the
tiny test models), ``scripts/train_demo_model.py`` (the demo model, which has its own
quantisation) and ``bench/make_model.py`` (the bench model). Nothing in the service imports it.

``export_onnx`` writes ``onnx/model.onnx`` (fp32) with the inputs a ``Spec`` names and one
``logits`` output; ``quantize`` writes ``onnx/model_quantized.onnx`` as Xenova's graphs are
made (dynamic int8, QUInt8 weights, per tensor).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

if TYPE_CHECKING:
    from transformers import BatchFeature

OPSET = 17


class FeatureExtractor(Protocol):
    """What these scripts use of a transformers feature extractor."""

    def __call__(self, raw_speech: np.ndarray | list[np.ndarray], **kwargs: Any) -> BatchFeature:
        """Features of one clip or a batch of clips."""
        ...

    def save_pretrained(self, save_directory: str | Path, /) -> object:
        """Write ``preprocessor_config.json`` into a folder."""
        ...


@dataclass
class Spec:
    name: str
    model_cls: str
    config_cls: str
    config_kwargs: dict[str, object]
    extractor: Callable[[], FeatureExtractor]
    input_names: list[str]
    labels: list[str]
    # input name -> {axis: name}
    dynamic_axes: dict[str, dict[int, str]]
    note: str = ""
    # classifier sub-module whose weight/bias is rescaled
    classifier_attr: str = "classifier"


# torch is not installed where mypy runs, so torch.nn.Module is Any to it.
class LogitsOnly(torch.nn.Module):  # type: ignore[misc]
    def __init__(self, model: torch.nn.Module, input_names: list[str]):
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.input_names, args, strict=True))).logits


def reset_caches(model: torch.nn.Module) -> None:
    """Drop cached positional tables so tracing records them as computed (dynamic) ops."""
    for mod in model.modules():
        if hasattr(mod, "cached_rotary_positional_embedding"):
            mod.cached_rotary_positional_embedding = None
            mod.cached_sequence_length = None


def export_onnx(
    model: torch.nn.Module, spec: Spec, example: list[torch.Tensor], path: Path
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = LogitsOnly(model, spec.input_names).eval()
    reset_caches(model)
    dynamic_axes = {**spec.dynamic_axes, "logits": {0: "batch_size"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            tuple(example),
            str(path),
            input_names=spec.input_names,
            output_names=["logits"],
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    import onnx

    m = onnx.load(str(path))
    onnx.checker.check_model(m)


def quantize(fp32: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs shape-inference chatter on the root logger
    try:
        quantize_dynamic(
            model_input=str(fp32),
            model_output=str(out),
            weight_type=QuantType.QUInt8,  # as Xenova; CPU ConvInteger needs uint8 weights
            per_channel=False,
            reduce_range=False,
        )
    finally:
        root.setLevel(level)
