"""The ONNX graph wrapper: declared inputs, labels, and clear errors for unusable graphs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from producer.errors import ModelError
from tests.models import model_dir
from worker.hub import resolve_model
from worker.model import OnnxModel, labels_from_config


def _copy(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(model_dir(name), folder)
    return folder


def test_reads_declared_inputs_and_labels() -> None:
    plain = OnnxModel(resolve_model(str(model_dir("wav2vec2")), dtype="fp32"))
    masked = OnnxModel(resolve_model(str(model_dir("wav2vec2-masked")), dtype="fp32"))
    assert plain.input_names == ("input_values",)
    assert not plain.takes_attention_mask
    assert masked.takes_attention_mask
    assert plain.labels[:3] == ["yes", "no", "up"]
    logits = plain.run({"input_values": np.zeros((2, 4000), np.float32), "attention_mask": None})  # type: ignore[dict-item]
    assert logits.shape == (2, len(plain.labels))


def test_int8_graph_is_flagged_as_batch_dependent() -> None:
    """Given the q8 graph, its activations are scaled per batch, so batch-mates change scores."""
    q8 = OnnxModel(resolve_model(str(model_dir("wav2vec2")), dtype="q8"))
    fp32 = OnnxModel(resolve_model(str(model_dir("wav2vec2")), dtype="fp32"))
    assert q8.quantizes_activations and not fp32.quantizes_activations
    rng = np.random.default_rng(0)
    quiet = rng.standard_normal((1, 8000)).astype(np.float32)
    loud = 20 * rng.standard_normal((1, 8000)).astype(np.float32)
    alone = q8.run({"input_values": quiet})[0]
    together = q8.run({"input_values": np.concatenate([quiet, loud])})[0]
    assert np.abs(alone - together).max() > 1e-3  # why BatchMode.SINGLE exists


def test_label_count_disagreeing_with_graph_is_a_model_error(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "wav2vec2")
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {"0": "a", "1": "b"}
    config["label2id"] = {"a": 0, "b": 1}
    config.pop("num_labels", None)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match=r"logits but config\.json has 2"):
        OnnxModel(resolve_model(str(folder), dtype="fp32"))


def test_graph_without_logits_is_a_model_error(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "wav2vec2")
    node = helper.make_node("Identity", ["input_values"], ["hidden"])
    graph = helper.make_graph(
        [node],
        "no-logits",
        [helper.make_tensor_value_info("input_values", TensorProto.FLOAT, ["b", "t"])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["b", "t"])],
    )
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
        folder / "onnx" / "model.onnx",
    )
    with pytest.raises(ModelError, match="no 'logits' output"):
        OnnxModel(resolve_model(str(folder), dtype="fp32"))


def test_corrupt_graph_is_a_model_error(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "wav2vec2")
    (folder / "onnx" / "model.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelError, match=r"cannot load model\.onnx"):
        OnnxModel(resolve_model(str(folder), dtype="fp32"))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "no id2label"),
        ({"id2label": {"a": "x"}}, "not an integer"),
        ({"id2label": {"0": "x", "2": "y"}}, "not 0..n-1"),
        ({"id2label": {"0": "x"}, "num_labels": 3}, "num_labels=3"),
    ],
)
def test_bad_id2label_is_a_model_error(config: dict[str, object], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        labels_from_config(config)
