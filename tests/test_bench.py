"""The bench (``python -m bench``) runs on the tiny models, and its figures come from its timings.

No figure is asserted fast or slow: the tests check that a quick run finishes, prints every
table, and that what it prints is consistent with itself (a ratio is the quotient of the two
printed rates, GFLOP/s is the counted FLOPs times the printed rate, shares add up), and that the
FLOP count of a small graph equals a count by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from bench.__main__ import main
from bench.flops import count_flops, matmul_peak
from bench.meter import Latency, latency_goal

#: One row of a model's table: dtype, workload, path, batch, clips, seconds, clips/s, vs
#: ceiling, GFLOP/s, % of peak, others.
ROW = re.compile(
    r"^(fp32|q8)\s+(keyword|mix)\s+(.+?)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(\S+)\s+(\S+)"
    r"\s+(\S+)\s+(\S+)$"
)
FLOPS = re.compile(r"^== (\S+): ([\d.e+-]+) GFLOP per keyword clip")
STAGES = re.compile(r"^(fp32|q8)\s+(keyword|mix)((?:\s+[\d.]+%){5})\s+[\d.]+\s+[\d.]+%")
PEAK = re.compile(r"numpy fp32 matmul peak \(.*\): ([\d.]+) GFLOP/s")


def _graph(path: Path) -> dict[str, np.ndarray]:
    """A MatMul, a Gemm, a plain and a grouped Conv, on inputs of known shapes."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [8, 4], np.ones(32, np.float32))
    k = helper.make_tensor("k", TensorProto.FLOAT, [4, 2, 3], np.ones(24, np.float32))
    g = helper.make_tensor("g", TensorProto.FLOAT, [4, 1, 3], np.ones(12, np.float32))
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["mm"]),  # [2,3,8] x [8,4]
        helper.make_node("Gemm", ["a", "b"], ["gemm"], transA=1),  # [5,3]^T x [5,6]
        helper.make_node("Conv", ["s", "k"], ["conv"]),  # [1,2,10] * [4,2,3]
        helper.make_node("Conv", ["s", "g"], ["grouped"], group=2),  # [1,2,10] * [4,1,3]
        helper.make_node("Relu", ["mm"], ["out"]),  # not counted
    ]
    inputs = {"x": [2, 3, 8], "a": [5, 3], "b": [5, 6], "s": [1, 2, 10]}
    graph = helper.make_graph(
        nodes,
        "hand",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
            for n in ("out", "gemm", "conv", "grouped")
        ],
        [w, k, g],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return {n: np.zeros(s, np.float32) for n, s in inputs.items()}


def test_flops_equal_a_count_by_hand(tmp_path: Path) -> None:
    feeds = _graph(tmp_path / "hand.onnx")
    by_hand = (
        2 * (2 * 3 * 4) * 8  # MatMul: 2 x outputs x inner dimension
        + 2 * (3 * 6) * 5  # Gemm with A transposed: inner dimension is A's first axis
        + 2 * (4 * 8) * (2 * 3)  # Conv: outputs x input channels x kernel
        + 2 * (4 * 8) * (1 * 3)  # grouped Conv: one input channel per group
    )
    assert count_flops(tmp_path / "hand.onnx", feeds) == by_hand


def test_the_matmul_peak_is_a_rate() -> None:
    assert matmul_peak(side=128, tries=2) > 0


def test_the_latency_goal_is_read_from_the_jobs_both_ways() -> None:
    # 101 jobs: latency 100..200 ms, own model call 38..138 ms, the idle call 40..240 ms.
    jobs = [Latency(100 + n, 55, 40 + n, 38 + n, 40 + 2 * n) for n in range(101)]
    goal = latency_goal(jobs, max_wait_ms=50)
    assert goal.p99_ms == pytest.approx(199)
    assert goal.goal_ms == pytest.approx(50 + 140 + 20)  # the median idle call is 140 ms
    assert (goal.model_p50_ms, goal.model_p99_ms) == pytest.approx((140, 238))
    assert goal.own_p99_ms == pytest.approx(62)  # every job spent 62 ms outside its call
    assert goal.own_goal_ms == 70


@pytest.mark.slow
@pytest.mark.worker
def test_a_quick_run_prints_figures_made_of_its_own_measurements(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--quick", "--models", "wav2vec2-base", "--dtypes", "fp32"]
    argv += ["--clips", "8", "--jobs", "3", "--bulk-refs", "48"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = [m.groups() for line in out.splitlines() if (m := ROW.match(line))]
    flops = {m[1]: float(m[2]) for line in out.splitlines() if (m := FLOPS.match(line))}
    peak = float(PEAK.search(out)[1])  # type: ignore[index]
    paths = {row[2] for row in rows}
    assert {p.split(" (")[0] for p in paths} >= {
        "ceiling",
        "earmark in-process",
        "earmark queue interactive",
        "earmark queue bulk",
    }
    ceilings = {(r[0], r[1], int(r[3])): float(r[6]) for r in rows if r[2].startswith("ceiling")}
    for dtype, workload, _path, batch, _, _, rate, vs, gflops, share, _ in rows:
        ceiling = ceilings[(dtype, workload, int(batch))]
        assert float(vs[:-1]) == pytest.approx(float(rate) / ceiling, abs=0.006, rel=0.01)
        if workload == "keyword":
            expected = flops["wav2vec2-base"] * float(rate)
            assert float(gflops) == pytest.approx(expected, abs=0.06, rel=0.01)
            assert float(share[:-1]) == pytest.approx(100 * expected / peak, abs=0.6, rel=0.01)
    stages = [m.group(3).split() for line in out.splitlines() if (m := STAGES.match(line))]
    assert len(stages) == 2  # keyword and mix
    for shares in stages:
        assert sum(float(s[:-1]) for s in shares) == pytest.approx(100, abs=0.3)
    assert "the transformers peer did not run" in out or "transformers pipeline" in out
    assert "idle single-job latency" in out and "bulk run: 48 references" in out
    assert "less each job's own model call" in out
    assert "what ONNX Runtime leaves" in out and "goals (issue #13)" in out


#: One path's row of the long-form table: path, windows, seconds, windows/s, vs ceiling.
LONG_ROW = re.compile(r"^(.+?)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x\s+(\S+)\s+(\S+)\s+(\S+)$")


@pytest.mark.slow
@pytest.mark.worker
def test_a_quick_long_form_run_compares_every_path_with_the_ceiling(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`python -m bench.longform --quick`: the ceiling, in process and one worker, every
    window of the recording labelled, each ratio the quotient of the printed rates."""
    from bench.longform import main as longform

    assert longform(["--quick", "--seconds", "40", "--ceiling-windows", "32"]) == 0
    rows = [
        m.groups() for line in capsys.readouterr().out.splitlines() if (m := LONG_ROW.match(line))
    ]
    assert [row[0].split(" (")[0] for row in rows] == [
        "ceiling", "earmark in-process", "earmark queue"
    ]  # fmt: skip
    assert [int(row[1]) for row in rows] == [32, 40, 40]
    ceiling = float(rows[0][3])
    for row in rows[1:]:
        assert float(row[4]) == pytest.approx(float(row[3]) / ceiling, abs=0.01)
        assert float(row[5]) >= 0.0 and 0.0 < float(row[6]) <= float(row[2])


@pytest.mark.slow
@pytest.mark.worker
def test_a_quick_long_memory_run_reads_the_pool_for_every_job(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`python -m bench.longmemory --quick`, on WAV and Opus from every source: one line a
    job, every window labelled, a peak within the high-water mark, and the bound printed."""
    from bench.longmemory import main as longmemory

    assert longmemory(["--quick", "--seconds", "30", "--formats", "wav", "opus"]) == 0
    lines = capsys.readouterr().out.splitlines()
    jobs = [line.split() for line in lines if line.split()[:1] in (["wav"], ["opus"])]
    assert [job[:2] for job in jobs] == [
        [f, s] for f in ("wav", "opus") for s in ("local", "s3", "url")
    ]
    for job in jobs:
        assert int(job[3]) == 30
        assert 0 < float(job[6]) <= float(job[7]) + 1
    assert "bound 1.5 x model + 300" in lines[0] and lines[-1].startswith("goal (issue #22")
