"""A wide audio classifier made with `onnx` alone (no torch): wav2vec2's convolutional front end
at full width (512 channels, kernels 10,3,3,3,3,2,2, strides 5,2,2,2,2,2,2), mean-pooled, then a
linear layer to the twelve keyword labels. Random weights, about 19 MB.

Its activations grow with audio length and batch size the way a real wav2vec2's do (the first
layer alone holds 512 values per 5 samples), so it shows a worker's memory on long and mixed
audio in seconds, where the tiny test models cannot; `bench/memory.py` and tests/test_memory.py
use it. With `masked`, it takes an ``attention_mask`` (multiplied into the input) so that a
worker pads mixed lengths into one call, as it does for mask-safe families.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: (kernel, stride) of wav2vec2-base's seven convolutions.
LAYERS = ((10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2), (2, 2))
#: Channels of every convolution.
WIDTH = 512
#: The default model's labels.
LABELS = ("_unknown_", "_silence_", "yes", "no", "up", "down", "left", "right", "on", "off",
          "stop", "go")  # fmt: skip


def make_wide_model(folder: Path, *, masked: bool = True, seed: int = 0) -> Path:
    """Write config.json, preprocessor_config.json and onnx/model.onnx under `folder`."""
    rng = np.random.default_rng(seed)
    inputs = [helper.make_tensor_value_info("input_values", TensorProto.FLOAT, ["batch", "time"])]
    nodes: list[onnx.NodeProto] = []
    source = "input_values"
    if masked:
        mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "time"])
        inputs.append(mask)
        nodes += [
            helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["input_values", "mask_f"], ["masked"]),
        ]
        source = "masked"
    body, weights = _convolutions(rng, source)
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(LABELS)])
    graph = helper.make_graph(nodes + body, "wide", inputs, [logits], initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    (folder / "onnx").mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "onnx" / "model.onnx"))
    _write_configs(folder, masked)
    return folder


def _convolutions(
    rng: np.random.Generator, source: str
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """The front end: seven convolutions with ReLU, mean over time, a linear head."""
    weights = [numpy_helper.from_array(np.array([1], np.int64), "axis1")]
    nodes = [helper.make_node("Unsqueeze", [source, "axis1"], ["x0"])]
    channels = 1
    for n, (kernel, stride) in enumerate(LAYERS):
        scale = 1.0 / np.sqrt(channels * kernel)
        w = (rng.standard_normal((WIDTH, channels, kernel)) * scale).astype(np.float32)
        weights.append(numpy_helper.from_array(w, f"w{n}"))
        nodes.append(helper.make_node("Conv", [f"x{n}", f"w{n}"], [f"c{n}"], strides=[stride]))
        nodes.append(helper.make_node("Relu", [f"c{n}"], [f"x{n + 1}"]))
        channels = WIDTH
    head = (rng.standard_normal((WIDTH, len(LABELS))) / np.sqrt(WIDTH)).astype(np.float32)
    weights += [numpy_helper.from_array(head, "head")]
    weights += [numpy_helper.from_array(np.array([2], np.int64), "axis2")]
    nodes.append(
        helper.make_node("ReduceMean", [f"x{len(LAYERS)}", "axis2"], ["pooled"], keepdims=0)
    )
    nodes.append(helper.make_node("MatMul", ["pooled", "head"], ["logits"]))
    return nodes, weights


def _write_configs(folder: Path, masked: bool) -> None:
    config = {
        "model_type": "wav2vec2",
        "architectures": ["Wav2Vec2ForSequenceClassification"],
        "num_labels": len(LABELS),
        "id2label": {str(i): label for i, label in enumerate(LABELS)},
        "label2id": {label: i for i, label in enumerate(LABELS)},
    }
    preprocessor = {
        "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        "feature_size": 1,
        "sampling_rate": 16_000,
        "padding_value": 0.0,
        "padding_side": "right",
        "do_normalize": True,
        "return_attention_mask": masked,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2))
