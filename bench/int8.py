"""Static int8 (``earmark optimize``) against q8 and fp32: clips/s and the score change.

For the demo model and the full-size wav2vec2-base (``bench/make_model.py``), each static int8
variant is calibrated on espeak-ng speech by training voices and measured on held-out voices
(``scripts/int8_clips.py``). Every figure is a ratio measured in this run: the model's three
graphs take turns, round after round, and each keeps its best round. Throughput is features and
model calls (``Classifier.infer``) as earmark batches each graph: q8 one clip per call, fp32 and
int8 up to ``--batch`` clips.

    .venv/bin/python -m bench.int8                    # both models, every variant
    .venv/bin/python -m bench.int8 --models demo --rounds 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.make_model import MODEL_DIR, ensure_model
from producer.settings import Settings
from scripts import int8_clips
from worker.classifier import Classifier
from worker.hub import resolve_model
from worker.model import SessionOptions
from worker.optimize import QuantFormat, StaticQuantization, optimize

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"demo": ROOT / "models" / "earmark-kws-demo", "wav2vec2-base": MODEL_DIR}
#: Static int8 variants: (graph format, convolutions quantized too).
VARIANTS: tuple[tuple[QuantFormat, bool], ...] = (
    ("qoperator", False),
    ("qdq", False),
    ("qoperator", True),
)


def clips_per_second(classifier: Classifier, clips: list[np.ndarray], batch: int) -> float:
    """One timed pass over ``clips``."""
    started = time.perf_counter()
    classifier.infer(clips, batch)
    return len(clips) / (time.perf_counter() - started)


def logits(classifier: Classifier, clips: list[np.ndarray], batch: int) -> np.ndarray:
    """(clips, labels) logits."""
    return np.stack([r.logits for r in classifier.infer(clips, batch) if r.logits is not None])


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def quantized(
    model: Path, manifest: Path, work: Path, variant: tuple[QuantFormat, bool], max_clips: int
) -> Path:
    """A copy of ``model`` with a static int8 graph of this variant; the copy's folder."""
    quant_format, conv = variant
    out = work / f"{model.name}-{quant_format}-{'conv' if conv else 'noconv'}"
    options = StaticQuantization(quant_format, conv, max_clips=max_clips)
    started = time.perf_counter()
    optimize(
        str(model), manifest, out=out, settings=Settings(local_roots=str(work)), options=options
    )
    print(f"  quantized {out.name} in {time.perf_counter() - started:.0f} s")
    return out


def bench_model(name: str, args: argparse.Namespace, work: Path, manifest: Path) -> None:
    """Print throughput and score change of every variant against q8 and fp32 for one model."""
    folder = ensure_model() if name == "wav2vec2-base" else MODELS[name]
    clips, _ = int8_clips.held_out_clips()
    held = list(clips[: args.clips])
    session = SessionOptions(intra_op_threads=args.threads)
    graphs: dict[str, Classifier] = {
        dtype: Classifier(resolve_model(str(folder), dtype=dtype), session)
        for dtype in ("fp32", "q8")
    }
    for quant_format, conv in VARIANTS:
        out = quantized(folder, manifest, work, (quant_format, conv), args.calibration_clips)
        label = f"int8 {quant_format}{' +conv' if conv else ''}"
        graphs[label] = Classifier(resolve_model(str(out), dtype="int8"), session)
    report(name, graphs, held, args)


def best_rates(
    graphs: dict[str, Classifier], held: list[np.ndarray], args: argparse.Namespace
) -> dict[str, float]:
    """Each graph's best clips/s over the rounds, graphs taking turns within a round."""
    rates: dict[str, float] = dict.fromkeys(graphs, 0.0)
    for graph in graphs.values():  # warm-up: first calls allocate
        graph.infer(held[: args.batch], args.batch)
    for _ in range(args.rounds):
        for label, graph in graphs.items():
            rates[label] = max(rates[label], clips_per_second(graph, held, args.batch))
    return rates


def report(
    name: str, graphs: dict[str, Classifier], held: list[np.ndarray], args: argparse.Namespace
) -> None:
    """The table for one model."""
    rates = best_rates(graphs, held, args)
    reference = logits(graphs["fp32"], held, args.batch)
    print(f"\n{name}: {len(held)} held-out clips of 1 s, batch {args.batch}, best of {args.rounds}")
    print(f"{'graph':<20} {'clips/s':>8} {'vs q8':>6} {'vs fp32':>7} {'max|dlogit|':>11}", end="")
    print(f" {'max|dprob|':>10} {'top-1 = fp32':>12} {'batch 1 = 16':>12}")
    for label, graph in graphs.items():
        ours = logits(graph, held, args.batch)
        alone = logits(graph, held[:16], 1)
        print(
            f"{label:<20} {rates[label]:>8.1f} {rates[label] / rates['q8']:>5.2f}x "
            f"{rates[label] / rates['fp32']:>6.2f}x {np.abs(ours - reference).max():>11.3f} "
            f"{np.abs(softmax(ours) - softmax(reference)).max():>10.3f} "
            f"{np.mean(ours.argmax(1) == reference.argmax(1)):>11.1%} "
            f"{np.abs(alone - ours[:16]).max():>12.1e}"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=sorted(MODELS))
    parser.add_argument("--clips", type=int, default=196, help="held-out clips to run (<= 196)")
    parser.add_argument("--calibration-clips", type=int, default=192, help="<= 192")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="ORT intra-op threads (0: ORT's)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench."""
    args = parse_args(argv)
    import onnxruntime

    print(f"onnxruntime {onnxruntime.__version__}; ORT threads {args.threads or 'default'}")
    with tempfile.TemporaryDirectory(prefix="earmark-int8-bench-") as tmp:
        work = Path(tmp)
        calibration = int8_clips.calibration_clips(np.random.default_rng(int8_clips.SEED))
        manifest = int8_clips.write_set(work / "calibration", calibration)
        print(f"calibration: {len(calibration)} clips by training voices (scripts/int8_clips.py)")
        for name in args.models:
            bench_model(name, args, work, manifest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
