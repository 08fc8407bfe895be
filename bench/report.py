"""How ``bench/queue.py`` prints its figures: the run's header and one table per measurement.

Nothing passes or fails: each table shows ratios against a baseline or a goal measured in the
same run, and the share of the machine other processes took meanwhile (``others``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from bench.meter import LATENCY_SLACK_MS, Enqueued, Latency, Pass, Usage, latency_goal

#: Goals printed beside the figures (nothing asserts them).
THROUGHPUT_GOAL = 0.9
ENQUEUE_GOAL = 5_000.0


def pct(share: float | None) -> str:
    """A share as a percentage, ``?`` where it could not be measured."""
    return "?" if share is None else f"{100 * share:.0f}%"


def print_header(
    *,
    model: str,
    dtype: str,
    clips: int,
    threads: int,
    ort_version: str,
    max_batch: int,
    max_wait_ms: int,
    others: float | None,
) -> None:
    """What ran, on how many threads, and how much of the CPUs other processes took."""
    print(
        f"earmark queue bench: {model} ({dtype}), {clips} clips of 1 s 16 kHz mono; "
        f"onnxruntime {ort_version}\n"
        f"1 worker (earmark worker --concurrency 1), ORT intra-op threads {threads} in both paths "
        f"({os.cpu_count()} CPUs); max batch {max_batch}, max wait {max_wait_ms} ms; "
        f"private Redis, file:// results"
    )
    print(
        f"CPU time taken by other processes during the run: {pct(others)} "
        f"of the machine (per measurement: column 'others')\n"
    )


def print_throughput(
    passes: dict[str, list[Pass]], threads: int, clips: int, *, max_batch: int
) -> None:
    """The end-to-end table: each path's two passes together, against the in-process ones."""
    totals = {name: sum_passes(runs) for name, runs in passes.items()}
    base = totals["in-process"].rate
    print("end-to-end throughput (queue: first submit -> last record present)")
    print(
        f"{'path':34} {'clips':>5} {'seconds':>8} {'clips/s':>8} {'vs in-process':>14} "
        f"{'CPU s/clip':>10} {'others':>6}"
    )
    for name, p in totals.items():
        print(
            f"{name:34} {p.clips:5d} {p.seconds:8.2f} {p.rate:8.2f} {p.rate / base:13.2f}x "
            f"{p.cpu_per_clip:>10} {pct(p.usage.others):>6}"
        )
    rounds = "   ".join(
        f"{name.split(' (')[0].removeprefix('queue ')} " + " / ".join(f"{r.rate:.2f}" for r in runs)
        for name, runs in passes.items()
    )
    print(
        f"2 rounds of {clips} clips: in-process, interactive, bulk, then the reverse order; "
        f"clips/s per round:\n  {rounds}\n"
        f"in-process = pipeline.iter_records, batch {max_batch}, {threads} ORT threads; queue = "
        f"1 worker, --concurrency 1, warmed with one batch per task\n"
        f"CPU s/clip: this process + worker + Redis; goal: queue >= {THROUGHPUT_GOAL:.2f}x "
        f"in-process\n"
    )


def sum_passes(runs: Sequence[Pass]) -> Pass:
    """Passes as one: clips, seconds and CPU summed, others' share weighted by length."""
    usage = runs[0].usage
    for run in runs[1:]:
        usage = usage + run.usage
    return Pass(sum(r.clips for r in runs), sum(r.seconds for r in runs), usage)


def print_enqueue(rows: dict[str, Enqueued]) -> None:
    """The enqueue table."""
    count = next(iter(rows.values())).refs
    print(f"enqueue rate into Redis (submit_many of {count:,} references, no worker consuming)")
    print(
        f"{'mode':34} {'refs':>6} {'messages':>8} {'seconds':>8} {'refs/s':>8} {'vs goal':>8} "
        f"{'others':>6}"
    )
    for name, row in rows.items():
        rate = row.refs / row.seconds
        print(
            f"{name:34} {row.refs:6d} {row.messages:8d} {row.seconds:8.2f} {rate:8.0f} "
            f"{rate / ENQUEUE_GOAL:7.2f}x {pct(row.usage.others):>6}"
        )
    print(f"goal: >= {ENQUEUE_GOAL:,.0f} references/s\n")


def print_latency(
    latencies: list[Latency], usage: Usage, *, max_wait_ms: int, poll_s: float
) -> None:
    """Percentiles of the idle single-job latency, its goal read both ways, and where the time
    went."""
    totals = [x.total_ms for x in latencies]
    goal = latency_goal(latencies, max_wait_ms)
    print(
        f"idle single-job latency (submit -> record present; {len(totals)} jobs one at a time, "
        f"store polled every {1000 * poll_s:.0f} ms)"
    )
    print(
        f"{'min ms':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'goal ms':>8} "
        f"{'p99/goal':>9} {'others':>6}"
    )
    print(
        f"{min(totals):8.1f} {goal.p50_ms:8.1f} {goal.p99_ms:8.1f} {max(totals):8.1f} "
        f"{goal.goal_ms:8.1f} {goal.p99_ms / goal.goal_ms:8.2f}x {pct(usage.others):>6}"
    )
    print(
        f"goal = EARMARK_MAX_WAIT_MS {max_wait_ms} + one model call {goal.model_p50_ms:.1f} ms "
        f"(in-process, one clip, median of one call after each job; p99 "
        f"{goal.model_p99_ms:.1f} ms) + {LATENCY_SLACK_MS:.0f} ms"
    )
    print(
        f"less each job's own model call: p99 {goal.own_p99_ms:.1f} ms, goal "
        f"{goal.own_goal_ms:.1f} ms (max wait + {LATENCY_SLACK_MS:.0f} ms)"
    )
    queued = float(np.median([x.queued_ms for x in latencies]))
    work = float(np.median([x.work_ms for x in latencies]))
    rest = float(np.median([x.total_ms - x.queued_ms - x.work_ms for x in latencies]))
    print(
        f"medians from the records: queued {queued:.1f} ms (submit -> micro-batch starts), "
        f"fetch+decode+model {work:.1f} ms, rest {rest:.1f} ms (labels, write, poll)"
    )
