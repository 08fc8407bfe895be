"""Padded batching against exact: ``python -m bench.padded [--quick] [--model DIR]``.

Prints, for each model and dtype, what ``EARMARK_BATCHING=padded`` changes: the largest score
change and the top-1 agreement against exact batching on the fixtures (``samples/`` and the
golden clips, each also cut to 87.5 % and 93.75 % of its length, so near lengths meet), and
clips/s of exact and padded on mixed lengths, measured in the same run (best of ``--repeats``,
interleaved), with their ratio. Absolute speeds depend on the machine; only ratios mean much.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime  # noqa: F401  # imported up front: the import starts a thread
import soundfile as sf

from producer.settings import Batching, Dtype
from worker.classifier import Classifier
from worker.hub import resolve_model
from worker.model import SessionOptions
from worker.postprocess import to_scores

ROOT = Path(__file__).resolve().parents[1]
#: The clips scores are compared on: the demo's keywords and the golden test clips.
FIXTURES = (ROOT / "samples", ROOT / "tests" / "data" / "audio" / "golden")
#: Each fixture is also cut to these shares of its length: the nearest lengths padded may join.
CUTS = (0.875, 0.9375, 1.0)
#: Models measured by default: the demo keyword spotter and the tiny group-norm test model.
MODELS = (ROOT / "models" / "earmark-kws-demo", ROOT / "tests" / "data" / "models" / "wav2vec2")
#: Most clips in one model call, as EARMARK_MAX_BATCH's default.
MAX_BATCH = 16
#: Seed of the mixed-length workload.
SEED = 20261204


@dataclass(frozen=True)
class ScoreChange:
    """How far padded scores move from exact ones over a set of clips."""

    max_abs: float
    top1_agreement: float
    clips: int


def fixture_clips(folder: Path, rate: int = 16_000) -> list[np.ndarray]:
    """Every WAV fixture in `folder` (mono, at `rate`) cut to each share in CUTS."""
    clips: list[np.ndarray] = []
    for path in sorted(folder.glob("*.wav")):
        samples, file_rate = sf.read(path, dtype="float32", always_2d=True)
        if file_rate != rate:
            raise SystemExit(f"{path} is at {file_rate} Hz, not {rate}")
        mono = samples.mean(axis=1)
        clips += [mono[: round(len(mono) * cut)] for cut in CUTS]
    return clips


def mixed_clips(count: int, low_s: float, high_s: float, rate: int = 16_000) -> list[np.ndarray]:
    """`count` clips of noise-like speech stand-ins, lengths uniform in [low_s, high_s]."""
    rng = np.random.default_rng(SEED)
    lengths = rng.uniform(low_s, high_s, count) * rate
    return [0.1 * rng.standard_normal(int(n)).astype(np.float32) for n in lengths]


def classifier(
    model: Path,
    dtype: Dtype,
    batching: Batching,
    threads: int = 0,
    providers: tuple[str, ...] = ("CPUExecutionProvider",),
) -> Classifier:
    """A classifier for one model folder and dtype under `batching`, on `providers`."""
    files = resolve_model(str(model), dtype=dtype)
    options = SessionOptions(providers=providers, intra_op_threads=threads)
    return Classifier(files, options, batching)


def scores(model: Classifier, clips: Sequence[np.ndarray], max_batch: int) -> np.ndarray:
    """Softmax scores of every clip, (clips, labels), batched as `model` batches."""
    inferences = model.infer(clips, max_batch)
    return to_scores(np.stack([i.logits for i in inferences if i.logits is not None]), "softmax")


def score_change(exact: np.ndarray, padded: np.ndarray) -> ScoreChange:
    """The largest absolute score change and the share of clips whose top label stays."""
    agree = float(np.mean(exact.argmax(axis=1) == padded.argmax(axis=1)))
    return ScoreChange(float(np.abs(exact - padded).max()), agree, len(exact))


def clips_per_s(
    models: dict[Batching, Classifier], clips: Sequence[np.ndarray], repeats: int
) -> dict[Batching, float]:
    """Best clips/s of each model over `repeats` interleaved passes, after one warm-up each."""
    best = dict.fromkeys(models, 0.0)
    for _ in range(repeats + 1):  # the slower warm-up pass never wins the max
        for name, model in models.items():
            started = time.perf_counter()
            model.infer(clips, MAX_BATCH)
            best[name] = max(best[name], len(clips) / (time.perf_counter() - started))
    return best


def main(argv: Sequence[str] | None = None) -> None:
    """Print the score change and the throughput ratio of padded against exact batching."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, action="append", help="model folder (repeatable)")
    parser.add_argument("--dtype", action="append", choices=["fp32", "q8"], help="(repeatable)")
    parser.add_argument("--quick", action="store_true", help="few clips, one repeat: a smoke run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: all)")
    parser.add_argument("--providers", default="CPUExecutionProvider", help="comma-separated")
    args = parser.parse_args(argv)
    providers = tuple(name.strip() for name in args.providers.split(",") if name.strip())
    count = 16 if args.quick else 64
    workloads = {"0.8-1.2 s": mixed_clips(count, 0.8, 1.2), "0.5-3 s": mixed_clips(count, 0.5, 3)}
    fixtures = {folder.name: fixture_clips(folder) for folder in FIXTURES}
    print(f"padded vs exact batching, at most {MAX_BATCH} clips a call, cuts {CUTS}, {providers}")
    print(f"{'model':20} dtype  fixtures  clips  max|dscore|  top-1 agree")
    pairs: dict[tuple[str, str], dict[Batching, Classifier]] = {}
    modes: tuple[Batching, ...] = ("exact", "padded")
    for model in args.model or MODELS:
        for dtype in args.dtype or ["fp32", "q8"]:
            pair = {b: classifier(model, dtype, b, args.threads, providers) for b in modes}
            pairs[model.name[:20], dtype] = pair
            for name, clips in fixtures.items():
                change = score_change(*(scores(pair[b], clips, MAX_BATCH) for b in pair))
                print(
                    f"{model.name[:20]:20} {dtype:5}  {name:8}  {change.clips:5}  "
                    f"{change.max_abs:11.3f}  {change.top1_agreement:11.1%}"
                )
    print(f"\n{'model':20} dtype  lengths   clips  exact/s  padded/s  padded/exact")
    for (model_name, dtype), pair in pairs.items():
        for workload, clips in workloads.items():
            speed = clips_per_s(pair, clips, 1 if args.quick else args.repeats)
            print(
                f"{model_name:20} {dtype:5}  {workload:8}  {len(clips):5}  {speed['exact']:7.1f}"
                f"  {speed['padded']:8.1f}  {speed['padded'] / speed['exact']:11.2f}x"
            )


if __name__ == "__main__":
    main()
