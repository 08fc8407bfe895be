"""earmark side by side with the ceiling and the peer, in one run: ``python -m bench``.

For a full-size wav2vec2-base and a full-size AST (random weights, ``bench/make_model.py``),
fp32 and q8, on the keyword case and a realistic mix, it measures raw ONNX Runtime on
precomputed features (the ceiling), earmark in process and through the queue, and the
``transformers`` pipeline on PyTorch (the peer); where the time goes; model GFLOP/s against
numpy's fp32 matmul peak; what ONNX Runtime's session options cost; the idle single-job
latency and a bulk run. ``--quick`` runs the same on the tiny test models in seconds.
Nothing passes or fails: every figure is a ratio to something measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort  # imported up front: the import starts a thread

from bench import goals, summary
from bench.flops import count_flops, matmul_peak
from bench.make_model import MODELS_DIR, ensure_model
from bench.measure import (
    Case,
    load_pipeline,
    paired_rows,
    stage_seconds,
    variant_rows,
    waveforms,
)
from bench.meter import Latency, Meter, Usage, others_share
from bench.peer import Peer, why_not
from bench.queue import metered_redis
from bench.queued import Bulk, bulk_run, queue_rows
from bench.rows import PEER_DTYPE, Results, Row
from bench.workloads import Workload, keyword_clips, mixed_clips

#: The tiny test models ``--quick`` runs on.
TEST_MODELS = Path(__file__).resolve().parent.parent / "tests" / "data" / "models"


@dataclass(frozen=True)
class Plan:
    """One model: where it is, the batch sizes, earmark's largest batch and the clip counts."""

    name: str
    folder: Path
    batches: tuple[int, ...]
    max_batch: int
    keyword: int
    mix: int


def plans(args: argparse.Namespace) -> list[Plan]:
    """The models to run, full size or (``--quick``) the tiny test models."""
    return [_clipped(plan, args.clips, args.mix_clips) for plan in _plans(args)]


def _clipped(plan: Plan, clips: int | None, mix: int | None) -> Plan:
    """The plan with other clip counts, and no batch larger than the keyword clips."""
    keyword = clips or plan.keyword
    batches = tuple(b for b in plan.batches if b <= keyword) or (keyword,)
    mixed = mix or clips or plan.mix
    return Plan(plan.name, plan.folder, batches, min(plan.max_batch, max(batches)), keyword, mixed)


def _plans(args: argparse.Namespace) -> list[Plan]:
    found = []
    for name in args.models:
        if args.quick:
            folder = TEST_MODELS / ("wav2vec2" if name == "wav2vec2-base" else "ast")
            found.append(Plan(name, folder, (1, 4, 16), 16, 16, 5))
        elif name == "ast-base":  # ~2-5 s a clip on 2 cores: few clips, small batches
            found.append(Plan(name, ensure_model(MODELS_DIR / name), (1, 4), 4, 4, 4))
        else:
            found.append(Plan(name, ensure_model(MODELS_DIR / name), (1, 4, 8, 16, 32), 16, 32, 8))
    return found


@dataclass
class Run:
    """What the run shares: results, meter, Redis, a scratch folder and the options."""

    args: argparse.Namespace
    results: Results
    meter: Meter
    redis_url: str
    tmp: Path
    latencies: list[Latency]
    plans: list[Plan]
    latency_usage: Usage | None = None
    bulk: Bulk | None = None


def run_model(run: Run, plan: Plan, first: bool) -> None:
    """Every measurement of one model."""
    keyword = keyword_clips(run.tmp / plan.name / "keyword", plan.keyword)
    mix = mixed_clips(run.tmp / plan.name / "mix", plan.mix)
    run.results.notes.append(f"{plan.name}: {keyword.describe()}; {mix.describe()}")
    fp32 = Case(plan.name, plan.folder, "fp32", plan.batches, plan.max_batch, run.args.repeat)
    classifier = load_pipeline(fp32, keyword, 1).classifier
    feeds = classifier.extractor(waveforms(classifier, keyword)[:1])
    run.results.flops_per_clip[plan.name] = count_flops(fp32.onnx_path(), feeds)
    for dtype in run.args.dtypes:
        case = Case(plan.name, plan.folder, dtype, plan.batches, plan.max_batch, run.args.repeat)
        run_case(run, case, keyword, mix)
    if first and not run.args.no_variants:
        say(f"{plan.name}: ORT session variants")
        run.results.rows += variant_rows(fp32, keyword, 1, run.meter)
    run_peer(run, plan, keyword, mix)


def say(text: str) -> None:
    """Progress on stderr: a full run takes many minutes on 2 cores."""
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def run_case(run: Run, case: Case, keyword: Workload, mix: Workload) -> None:
    """Ceiling, in-process, stages and queue of one model and dtype."""
    say(f"{case.name} {case.dtype}: ceiling, in process, stages")
    rows = run.results.rows
    rows += paired_rows(case, keyword, case.batches, (1, case.max_batch), run.meter)
    rows += paired_rows(case, mix, (case.max_batch,), (case.max_batch,), run.meter)
    for workload in (keyword, mix):
        run.results.stages[(case.name, case.dtype, workload.name)] = stage_seconds(
            case, workload, case.max_batch
        )
    if not run.args.no_queue:
        say(f"{case.name} {case.dtype}: through the queue")
        # The idle latency on the first model's fp32 worker: one worker start fewer.
        jobs = run.args.jobs if case.dtype == "fp32" and not run.latencies else 0
        where = (run.redis_url, run.tmp)
        queued = queue_rows(case, keyword, case.max_batch, where, run.meter, jobs)
        rows += queued.rows
        if queued.latencies:
            run.latencies, run.latency_usage = queued.latencies, queued.latency_usage


def run_peer(run: Run, plan: Plan, keyword: Workload, mix: Workload) -> None:
    """The transformers pipeline at batch 1 and earmark's largest batch, or why it cannot run."""
    reason = "--no-peer" if run.args.no_peer else why_not(plan.folder)
    if reason is not None:
        run.results.notes.append(f"{plan.name}: the transformers peer did not run: {reason}")
        return
    say(f"{plan.name}: the transformers peer")
    peer = Peer(plan.folder)
    for workload, batches in ((keyword, sorted({1, plan.max_batch})), (mix, (plan.max_batch,))):
        for batch in batches:
            usage: dict[str, Usage] = {}
            with run.meter.phase(usage, "peer"):
                seconds = peer.pass_seconds(workload.paths, batch)
            row = Row(
                plan.name,
                PEER_DTYPE,
                workload.name,
                summary.PEER,
                batch,
                len(workload.paths),
                seconds,
                usage["peer"].others,
            )
            run.results.rows.append(row)
    run.results.notes.append(f"peer: transformers on torch {peer.torch_version}, CPU")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="the tiny test models, few clips: seconds"
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=["wav2vec2-base", "ast-base"],
        choices=["wav2vec2-base", "ast-base"],
    )
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "q8"], choices=["fp32", "q8"])
    parser.add_argument("--clips", type=int, help="clips per workload (default: per model)")
    parser.add_argument("--mix-clips", type=int, help="clips of the mix (default: --clips)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="timed passes per row, the fastest kept (1)"
    )
    parser.add_argument("--no-queue", action="store_true", help="skip the worker: in-process only")
    parser.add_argument("--no-peer", action="store_true", help="skip the transformers pipeline")
    parser.add_argument("--no-variants", action="store_true", help="skip ORT session variants")
    parser.add_argument("--jobs", type=int, help="idle latency jobs (40; 5 with --quick)")
    parser.add_argument(
        "--bulk-refs",
        type=int,
        help="bulk run on the tiny model (10000; 200 with --quick; 0: none)",
    )
    args = parser.parse_args(argv)
    args.jobs = args.jobs if args.jobs is not None else (5 if args.quick else 40)
    args.bulk_refs = (
        args.bulk_refs if args.bulk_refs is not None else (200 if args.quick else 10_000)
    )
    return args


def measure(args: argparse.Namespace, meter: Meter, results: Results) -> Run:
    """Every model's measurements and the bulk run, with a private Redis."""
    todo = plans(args)
    with (
        tempfile.TemporaryDirectory(prefix="earmark-bench-") as tmp,
        metered_redis(meter, Path(tmp)) as redis_url,
    ):
        run = Run(args, results, meter, redis_url, Path(tmp), [], todo)
        for index, plan in enumerate(todo):
            run_model(run, plan, index == 0)
            # Load from others comes and goes: the peak is the best of a few measurements
            # spread over the run, not one taken in a busy moment.
            results.peak_gflops = max(results.peak_gflops, matmul_peak())
        if args.bulk_refs and not args.no_queue:
            # The tiny AST: its graph is cheap, so the run measures the queue, not the model.
            tiny = Case("ast (tiny test model)", TEST_MODELS / "ast", "fp32", (16,), 16)
            clips = keyword_clips(Path(tmp) / "bulk", 32)
            say(f"bulk run of {args.bulk_refs} references")
            run.bulk = bulk_run(tiny, clips, args.bulk_refs, redis_url, Path(tmp), meter)
    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Measure everything asked for, then print it."""
    args = parse_args(argv)
    began = time.monotonic()
    meter = Meter()
    start = meter.snapshot()
    results = Results(peak_gflops=matmul_peak())
    run = measure(args, meter, results)
    others = others_share(start, meter.snapshot())
    summary.print_header(results, f"onnxruntime {ort.__version__}", others)
    for name in args.models:
        summary.print_rows(results, name)
        summary.print_stages(results, name)
    summary.print_variants(results)
    if run.latencies and run.latency_usage is not None:
        summary.print_latency(run.latencies, run.latency_usage, args.models[0])
    summary.print_bulk(run.bulk)
    batches = {plan.name: plan.max_batch for plan in run.plans}
    goals.print_goals(results, batches, run.latencies, run.bulk)
    command = " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)])
    print(f"\nwhole run: {time.monotonic() - began:.0f} s ({command})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
