"""A model's floating-point work, counted once from its ONNX graph, and the machine's peak.

``count_flops`` counts 2 x multiply-adds of every MatMul, Gemm and Conv at the shapes one real
call gives: ONNX Runtime runs the unoptimised graph once with those nodes' inputs and outputs
exposed, so dynamic shapes (wav2vec2's frames) are what the model sees. Element-wise work
(softmax, norms, activations) is left out: it is a few percent and no matmul peak bounds it.
``matmul_peak`` is numpy's fp32 matrix-multiply rate on this machine, best of a few tries.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

#: The ops counted, and nothing else.
COUNTED_OPS = ("MatMul", "Gemm", "Conv")
#: Side of the square fp32 matrices of the peak measurement, and the tries it keeps the best of.
PEAK_SIDE = 2048
PEAK_TRIES = 5


def node_flops(op: str, shapes: list[tuple[int, ...]], attrs: Mapping[str, int]) -> int:
    """2 x multiply-adds of one node from its input shapes and (last) its output shape."""
    if op == "MatMul":
        a, out = shapes[0], shapes[-1]
        inner = a[-1]
        return 2 * int(np.prod(out)) * inner
    if op == "Gemm":
        a, out = shapes[0], shapes[-1]
        inner = a[0] if attrs.get("transA", 0) else a[-1]
        return 2 * int(np.prod(out)) * inner
    if op == "Conv":
        weight, out = shapes[1], shapes[-1]
        # Each output element sums over its group's input channels times the kernel.
        return 2 * int(np.prod(out)) * int(np.prod(weight[1:]))
    raise ValueError(f"not a counted op: {op}")


def count_flops(onnx_path: Path, feeds: Mapping[str, np.ndarray]) -> int:
    """FLOPs (2 x multiply-adds) of MatMul, Gemm and Conv nodes for one call on ``feeds``."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(onnx_path))
    graph = model.graph
    inputs = {i.name for i in graph.input}
    feeds = {k: np.ascontiguousarray(v, np.float32) for k, v in feeds.items() if k in inputs}
    known = {t.name: tuple(int(d) for d in t.dims) for t in graph.initializer}
    known.update({name: tuple(value.shape) for name, value in feeds.items()})
    nodes = [n for n in graph.node if n.op_type in COUNTED_OPS]
    wanted = {name for n in nodes for name in [*n.input, *n.output] if name and name not in known}
    existing = {o.name for o in graph.output}
    for name in sorted(wanted - existing):
        graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    options = ort.SessionOptions()
    # Unoptimised: fusions would rename or remove the very tensors whose shapes are read.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, dict(feeds))
    known.update({name: tuple(v.shape) for name, v in zip(names, values, strict=True)})
    total = 0
    for node in nodes:
        shapes = [known[name] for name in node.input if name] + [known[node.output[0]]]
        attrs = {a.name: int(a.i) for a in node.attribute if a.type == onnx.AttributeProto.INT}
        total += node_flops(node.op_type, shapes, attrs)
    return total


def matmul_peak(side: int = PEAK_SIDE, tries: int = PEAK_TRIES) -> float:
    """numpy's fp32 matmul rate in GFLOP/s (2 x side^3 per product), best of ``tries``."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((side, side), dtype=np.float32)
    b = rng.standard_normal((side, side), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)  # warm-up: BLAS threads start, pages are touched
    best = float("inf")
    for _ in range(tries):
        started = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - started)
    return 2 * side**3 / best / 1e9
