"""How ``python -m bench`` prints: the run's header, one table per model, and the goals.

Only formatting: every figure comes from ``bench/rows.py``'s ``Results``. Nothing passes or
fails; the goals are printed beside what was measured, met or not.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.measure import IN_PROCESS
from bench.meter import LATENCY_SLACK_MS, Latency, Usage, latency_goal
from bench.queue import MAX_WAIT_MS
from bench.queued import BULK, INTERACTIVE, Bulk
from bench.report import pct
from bench.rows import CEILING, PEER_DTYPE, Results

#: Goals of issue #13, printed beside the figures.
GOAL_IN_PROCESS = 0.97
GOAL_QUEUE = 0.9
GOAL_PEAK = 0.9
GOAL_PEER_FP32 = 1.8
GOAL_PEER_Q8 = 2.5
GOAL_PREPARATION = 0.10
#: The peer's path name.
PEER = "transformers pipeline (PyTorch)"


def pct1(share: float) -> str:
    """A share as a percentage with one decimal: stage shares are often well under 1 %."""
    return f"{100 * share:.1f}%"


def ratio(value: float | None) -> str:
    """A ratio as ``0.97x``, ``-`` where there is nothing to compare with."""
    return "-" if value is None else f"{value:.2f}x"


def cpu_name() -> str:
    """The CPU's model name (Linux), or ``?``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def print_header(results: Results, versions: str, others: float | None) -> None:
    """The machine, the versions, the matmul peak and the load."""
    print(f"earmark bench: {cpu_name()}, {os.cpu_count()} CPUs; {versions}")
    print(
        f"numpy fp32 matmul peak (best of the run's start and each model's end): "
        f"{results.peak_gflops:.1f} GFLOP/s"
    )
    print(f"CPU time taken by other processes during the run: {pct(others)} of the machine")
    for note in results.notes:
        print(f"note: {note}")


def print_rows(results: Results, model: str) -> None:
    """Every timed row of one model: clips/s, ratio to the ceiling, GFLOP/s and load."""
    flops = results.flops_per_clip.get(model)
    counted = "?" if flops is None else f"{flops / 1e9:.6g} GFLOP per keyword clip"
    print(f"\n== {model}: {counted} (MatMul, Gemm, Conv counted once from the fp32 graph) ==")
    print(
        f"{'dtype':5} {'workload':8} {'path':44} {'batch':>5} {'clips':>5} {'seconds':>8} "
        f"{'clips/s':>8} {'vs ceil':>8} {'GFLOP/s':>8} {'%peak':>6} {'others':>6}"
    )
    for row in results.rows:
        if row.model != model or row.path not in _MAIN_PATHS:
            continue
        gflops = results.gflops(row)
        shown = "-" if gflops is None else f"{gflops:.1f}"
        peak = "-" if gflops is None else pct(gflops / results.peak_gflops)
        print(
            f"{row.dtype:5} {row.workload:8} {row.path:44} {row.batch:5d} {row.clips:5d} "
            f"{row.seconds:8.2f} {row.rate:8.2f} {ratio(results.vs_ceiling(row)):>8} "
            f"{shown:>8} {peak:>6} {pct(row.others):>6}"
        )


_MAIN_PATHS = (CEILING, IN_PROCESS, INTERACTIVE, BULK, PEER)


def print_stages(results: Results, model: str) -> None:
    """Where the time goes, per dtype and workload, as shares of the directly timed stages."""
    print(
        f"\nwhere the time goes ({model}; stages timed one at a time with earmark's code, "
        f"at earmark's largest batch; queue+store: the bulk queue pass minus the in-process one; "
        f"the decoder's one filter graph decodes, downmixes and resamples: all decode)"
    )
    print(
        f"{'dtype':5} {'workload':8} {'fetch':>6} {'decode':>7} {'resample':>8} {'features':>8} "
        f"{'model':>6} {'ms/clip':>8} {'prep/model':>10} {'queue+store':>11}"
    )
    for (name, dtype, workload), stages in results.stages.items():
        if name != model:
            continue
        s = stages.shares()
        clips = next(r.clips for r in results.rows if (r.model, r.workload) == (name, workload))
        print(
            f"{dtype:5} {workload:8} {pct1(s['fetch']):>6} {pct1(s['decode']):>7} "
            f"{pct1(s['resample']):>8} {pct1(s['features']):>8} {pct1(s['model']):>6} "
            f"{1000 * stages.total / clips:8.1f} {100 * stages.preparation_vs_model:9.1f}% "
            f"{pct(queue_share(results, name, dtype, workload)):>11}"
        )


def queue_share(results: Results, model: str, dtype: str, workload: str) -> float | None:
    """The share of a bulk queue pass not spent as the in-process pass at the same batch."""
    for queued in results.rows:
        if (queued.model, queued.dtype, queued.workload, queued.path) != (
            model,
            dtype,
            workload,
            BULK,
        ):
            continue
        local = results.find(model, dtype, workload, IN_PROCESS, queued.batch)
        if local is not None:
            return (
                max(0.0, queued.seconds - local.seconds * queued.clips / local.clips)
                / queued.seconds
            )
    return None


def print_variants(results: Results) -> None:
    """Raw ONNX Runtime under each session-option variant, against its defaults."""
    rows = [r for r in results.rows if r.path not in _MAIN_PATHS]
    if not rows:
        return
    base = rows[0]
    print(
        f"\nwhat ONNX Runtime leaves ({base.model} {base.dtype}, {base.workload}, batch "
        f"{base.batch}, raw ORT on precomputed features; one option changed at a time)"
    )
    print(
        f"{'session options':52} {'clips/s':>8} {'vs default':>10} {'GFLOP/s':>8} {'%peak':>6} "
        f"{'others':>6}"
    )
    for row in rows:
        gflops = results.gflops(row)
        peak = "-" if gflops is None else pct(gflops / results.peak_gflops)
        shown = "-" if gflops is None else f"{gflops:.1f}"
        print(
            f"{row.path:52} {row.rate:8.2f} {row.rate / base.rate:9.2f}x {shown:>8} {peak:>6} "
            f"{pct(row.others):>6}"
        )


def print_latency(latencies: Sequence[Latency], usage: Usage, model: str) -> None:
    """Idle single-job latency percentiles against the goal, read both ways."""
    goal = latency_goal(latencies, MAX_WAIT_MS)
    queued = float(np.median([x.queued_ms for x in latencies]))
    work = float(np.median([x.work_ms for x in latencies]))
    print(
        f"\nidle single-job latency ({model} fp32, {len(latencies)} jobs one at a time): "
        f"p50 {goal.p50_ms:.1f} ms, p99 {goal.p99_ms:.1f} ms, "
        f"max {max(x.total_ms for x in latencies):.1f} ms; goal p99 <= {goal.goal_ms:.1f} ms "
        f"(max wait {MAX_WAIT_MS} + one model call + {LATENCY_SLACK_MS:.0f}); "
        f"medians: queued {queued:.1f} ms, fetch+decode+model {work:.1f} ms; "
        f"others {pct(usage.others)}"
    )
    print(
        f"the same model call in process, after each job: p50 {goal.model_p50_ms:.1f} ms, "
        f"p99 {goal.model_p99_ms:.1f} ms; the latency less each job's own model call: "
        f"p99 {goal.own_p99_ms:.1f} ms (goal <= max wait + {LATENCY_SLACK_MS:.0f} = "
        f"{goal.own_goal_ms:.0f} ms)"
    )


def print_bulk(bulk: Bulk | None) -> None:
    """The bulk run's total time and clips/s."""
    if bulk is not None:
        print(
            f"\nbulk run: {bulk.refs:,} references on {bulk.model} through 1 worker: "
            f"{bulk.seconds:.1f} s, {bulk.rate:.1f} clips/s; others {pct(bulk.others)}"
        )


def peer_ratio(results: Results, model: str, dtype: str, batch: int) -> float | None:
    """earmark in-process (dtype) over the peer (fp32) on the keyword case at one batch."""
    ours = results.find(model, dtype, "keyword", IN_PROCESS, batch)
    theirs = results.find(model, PEER_DTYPE, "keyword", PEER, batch)
    return None if ours is None or theirs is None else ours.rate / theirs.rate
