"""Issue #13's goals, each beside the figure this run measured for it: met, missed or unmeasured.

Every figure is read from ``Results`` (``bench/rows.py``); the goals' thresholds live in
``bench/summary.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from bench.measure import IN_PROCESS
from bench.meter import Latency, latency_goal
from bench.queue import MAX_WAIT_MS
from bench.queued import BULK, INTERACTIVE, Bulk
from bench.rows import CEILING, Results
from bench.summary import (
    GOAL_IN_PROCESS,
    GOAL_PEAK,
    GOAL_PEER_FP32,
    GOAL_PEER_Q8,
    GOAL_PREPARATION,
    GOAL_QUEUE,
    peer_ratio,
)


def verdict(value: float | None, goal: float, *, at_most: bool = False) -> str:
    """``met``, ``MISSED`` or ``not measured``."""
    if value is None:
        return "not measured"
    return "met" if (value <= goal if at_most else value >= goal) else "MISSED"


def line(
    what: str, value: float | None, goal: float, unit: str = "x", at_most: bool = False
) -> str:
    """One goal: what, the measured figure, the goal and the verdict."""
    shown = "-" if value is None else f"{value:.2f}{unit}"
    sign = "<=" if at_most else ">="
    judged = verdict(value, goal, at_most=at_most)
    return f"  {what:64} {shown:>9}  goal {sign} {goal:g}{unit}  {judged}"


def model_goals(results: Results, model: str, batch: int) -> Iterator[str]:
    """The per-model goals at earmark's largest batch on the keyword case."""
    yield from path_goals(results, model, batch)
    ceilings = [r for r in results.rows if (r.model, r.dtype, r.path) == (model, "fp32", CEILING)]
    rates = [results.gflops(r) for r in ceilings]
    shares = [g / results.peak_gflops for g in rates if g is not None]
    yield line(
        f"{model} fp32 model (best ceiling row) vs numpy matmul peak",
        max(shares, default=None),
        GOAL_PEAK,
    )
    yield line(
        f"{model} fp32 in-process vs transformers fp32, batch {batch}",
        peer_ratio(results, model, "fp32", batch),
        GOAL_PEER_FP32,
    )
    yield line(
        f"{model} q8 in-process vs transformers fp32, batch {batch}",
        peer_ratio(results, model, "q8", batch),
        GOAL_PEER_Q8,
    )
    for (name, dtype, workload), stages in results.stages.items():
        if name == model and workload == "mix":
            value = stages.preparation_vs_model
            yield line(
                f"{model} {dtype} decode+resample+features / model time, mix",
                value,
                GOAL_PREPARATION,
                "",
                at_most=True,
            )


def path_goals(results: Results, model: str, batch: int) -> Iterator[str]:
    """Each of earmark's paths (in process, interactive, bulk) against the ceiling, per dtype."""
    for dtype in ("fp32", "q8"):
        for path, goal in (
            (IN_PROCESS, GOAL_IN_PROCESS),
            (INTERACTIVE, GOAL_QUEUE),
            (BULK, GOAL_QUEUE),
        ):
            row = results.find(model, dtype, "keyword", path, batch)
            if row is not None:
                name = path.split(" (")[0]
                yield line(
                    f"{model} {dtype} {name} vs ceiling, batch {batch}",
                    results.vs_ceiling(row),
                    goal,
                )


def print_goals(
    results: Results, batches: dict[str, int], latencies: Sequence[Latency], bulk: Bulk | None
) -> None:
    """Every goal with its figure."""
    print("\ngoals (issue #13), measured in this run")
    for model, batch in batches.items():
        for text in model_goals(results, model, batch):
            print(text)
    if latencies:
        goal = latency_goal(latencies, MAX_WAIT_MS)
        print(
            line("idle single-job latency p99, ms", goal.p99_ms, goal.goal_ms, " ms", at_most=True)
        )
        print(
            line(
                "  the same less each job's own model call, ms",
                goal.own_p99_ms,
                goal.own_goal_ms,
                " ms",
                at_most=True,
            )
        )
    if bulk is not None:
        print(
            f"  bulk run of {bulk.refs:,} references: {bulk.seconds:.1f} s, {bulk.rate:.1f} clips/s"
        )
