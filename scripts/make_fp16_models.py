#!/usr/bin/env python
"""Write fp16 copies of test models: ``tests/data/fp16/<name>/`` with ``onnx/model_fp16.onnx``.

Dev-only helper: nothing in the service imports this file. The graphs are the committed fp32
ones converted by ONNX Runtime's own float16 converter (``onnxruntime.transformers.float16``, as
transformers.js' export does with ``--dtype fp16``): weights and activations in float16, inputs
and logits too, so the worker must feed float16 where the graph declares it. They live beside,
not inside, ``tests/data/models/`` so that the families and their goldens stay as they are.

    .venv/bin/python scripts/make_fp16_models.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import onnx
from onnxruntime.transformers.float16 import convert_float_to_float16

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "tests" / "data" / "models"
OUT = ROOT / "tests" / "data" / "fp16"
#: The models converted: the group-norm wav2vec2 (the default model's shape) and a masked one.
NAMES = ("wav2vec2", "wav2vec2-masked")


def convert(name: str) -> Path:
    """Write one model's folder with its fp16 graph; return the folder."""
    source, target = MODELS / name, OUT / name
    shutil.rmtree(target, ignore_errors=True)
    (target / "onnx").mkdir(parents=True)
    for config in ("config.json", "preprocessor_config.json"):
        shutil.copy(source / config, target / config)
    graph = convert_float_to_float16(onnx.load(source / "onnx" / "model.onnx"), keep_io_types=False)
    onnx.save(graph, target / "onnx" / "model_fp16.onnx")
    return target


if __name__ == "__main__":
    for model in NAMES:
        path = convert(model) / "onnx" / "model_fp16.onnx"
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1024:.0f} KB")
