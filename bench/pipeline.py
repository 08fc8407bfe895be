"""Throughput of the in-process pipeline on a full-size wav2vec2-base: ``python -m bench.pipeline``.

Writes one-second clips (16 kHz mono, plus a few 44.1 kHz stereo) to a temporary folder, then
measures clips/s of ``pipeline(...).iter_records`` at batch 1 and 16, fp32 and int8, each after
one warm-up pass, and times decode, resample, features and model directly on the same clips.
Every figure is a ratio against a baseline measured in the same run: absolute speeds depend on
the machine, so nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort  # imported up front: the import starts a thread
import soundfile as sf

from bench.make_model import ensure_model
from producer.settings import Dtype, Settings
from worker.audio import decode_audio, resample, to_mono
from worker.batching import plan_batches
from worker.classifier import Classifier
from worker.model import SessionOptions
from worker.pipeline import AudioClassificationPipeline, pipeline

#: Batch sizes measured; the first is the baseline of the "vs batch 1" column.
BATCHES = (1, 16)
#: Model dtypes measured; the first is the baseline of the "vs fp32" column.
DTYPES: tuple[Dtype, ...] = ("fp32", "q8")
#: Clip length, in seconds.
CLIP_S = 1.0
#: Seed of the generated clips.
SEED = 20240611


@dataclass(frozen=True)
class Stages:
    """Seconds spent in each stage over all clips."""

    decode: float
    resample: float
    features: float
    model: float

    @property
    def total(self) -> float:
        """Seconds over all stages."""
        return self.decode + self.resample + self.features + self.model


def write_clips(folder: Path, mono: int, stereo: int) -> list[Path]:
    """Write ``mono`` 16 kHz mono and ``stereo`` 44.1 kHz stereo WAV clips; return their paths."""
    rng = np.random.default_rng(SEED)
    paths = []
    for index in range(mono + stereo):
        rate, channels = (16_000, 1) if index < mono else (44_100, 2)
        t = np.arange(int(CLIP_S * rate)) / rate
        tones = [np.sin(2 * np.pi * rng.uniform(100, 4000) * t) for _ in range(channels)]
        noise = rng.standard_normal((len(t), channels))
        samples = 0.3 * np.stack(tones, axis=1) + 0.05 * noise
        path = folder / f"clip_{index:03d}_{rate}hz_{channels}ch.wav"
        sf.write(path, samples, rate, subtype="PCM_16")
        paths.append(path)
    return paths


def cpu_snapshot() -> tuple[float, float, float] | None:
    """(wall s, machine busy CPU s, this process's CPU s) from Linux /proc/stat, else None."""
    try:
        ticks = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except OSError:
        return None
    busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait
    own = os.times()
    return time.monotonic(), busy, own.user + own.system


def others_share(
    before: tuple[float, float, float] | None, after: tuple[float, float, float] | None
) -> float | None:
    """Share of the machine's CPU time that other processes used between two snapshots."""
    if before is None or after is None:
        return None
    wall, busy, own = (a - b for a, b in zip(after, before, strict=True))
    return max(0.0, busy - own) / (wall * (os.cpu_count() or 1))


def os_threads() -> int | None:
    """Threads of this process (Linux), or None where /proc is not there."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def clips_per_second(pipe: AudioClassificationPipeline, paths: Sequence[Path], batch: int) -> float:
    """Clips/s of one pass over ``paths``, after one warm-up pass at the same batch size."""
    refs = [str(path) for path in paths]
    run(pipe, refs, batch)
    started = time.perf_counter()
    run(pipe, refs, batch)
    return len(refs) / (time.perf_counter() - started)


def run(pipe: AudioClassificationPipeline, refs: Sequence[str], batch: int) -> None:
    """One pass of the pipeline; an error record means a broken bench, not a slow one."""
    for record in pipe.iter_records(refs, batch_size=batch):
        if record.status != "ok":
            raise RuntimeError(f"{record.input}: {record.error}")


def stage_seconds(classifier: Classifier, paths: Sequence[Path], batch: int) -> Stages:
    """Each stage timed on its own with the worker's functions, batched as the pipeline would."""
    data = [path.read_bytes() for path in paths]  # file reads are not a stage here
    started = time.perf_counter()
    decoded = [decode_audio(blob, max_seconds=60.0) for blob in data]
    decoded_at = time.perf_counter()
    rate = classifier.sampling_rate
    waves = [resample(to_mono(d.samples, d.layout), d.sample_rate, rate) for d in decoded]
    resampled_at = time.perf_counter()
    features_s = model_s = 0.0
    for rows in plan_batches([len(w) for w in waves], batch, classifier.mode):
        begun = time.perf_counter()
        features = classifier.extractor([waves[i] for i in rows])
        extracted = time.perf_counter()
        classifier.model.run(features)
        features_s += extracted - begun
        model_s += time.perf_counter() - extracted
    return Stages(decoded_at - started, resampled_at - decoded_at, features_s, model_s)


def measure(
    model: Path, paths: Sequence[Path], dtype: Dtype, settings: Settings, threads: int
) -> tuple[dict[int, float], Stages, int | None]:
    """Clips/s per batch size, stage seconds at the largest batch, and ORT's intra-op threads."""
    before = os_threads()
    pipe = pipeline(
        "audio-classification",
        str(model),
        dtype=dtype,
        settings=settings,
        session=SessionOptions(intra_op_threads=threads),
    )
    after = os_threads()
    # ORT's pool starts its workers with the session; the calling thread is one of the pool.
    pool = None if before is None or after is None else after - before + 1
    speeds = {batch: clips_per_second(pipe, paths, batch) for batch in BATCHES}
    return speeds, stage_seconds(pipe.classifier, paths, max(BATCHES)), pool


def print_throughput(speeds: dict[Dtype, dict[int, float]]) -> None:
    """The clips/s table with its two ratio columns."""
    base_dtype, base_batch = DTYPES[0], BATCHES[0]
    print("throughput (pipeline.iter_records, one pass after one warm-up pass)")
    print(f"{'dtype':6} {'batch':>5} {'clips/s':>8} {'vs batch 1':>11} {'vs fp32':>8}")
    for dtype, by_batch in speeds.items():
        for batch, speed in by_batch.items():
            vs_batch = speed / by_batch[base_batch]
            vs_dtype = speed / speeds[base_dtype][batch]
            print(f"{dtype:6} {batch:5d} {speed:8.2f} {vs_batch:10.2f}x {vs_dtype:7.2f}x")
    print(
        "note: q8 (int8) graphs run one clip per model call whatever the batch size\n"
        "      (BatchMode.SINGLE): dynamic quantization scales activations over the whole\n"
        "      batch, so batch-mates would change a clip's scores."
    )


def print_stages(stages: dict[Dtype, Stages], clips: int) -> None:
    """Each stage's share of the directly timed total, per dtype."""
    print(f"\nwhere the time goes (stages timed directly, batch {max(BATCHES)} plan)")
    print(f"{'dtype':6} {'decode':>7} {'resample':>9} {'features':>9} {'model':>7} {'ms/clip':>8}")
    for dtype, s in stages.items():
        shares = [100 * part / s.total for part in (s.decode, s.resample, s.features, s.model)]
        print(
            f"{dtype:6} {shares[0]:6.1f}% {shares[1]:8.1f}% {shares[2]:8.1f}% {shares[3]:6.1f}% "
            f"{1000 * s.total / clips:8.1f}"
        )


def print_header(
    clips: int, mono: int, stereo: int, pool: int | None, threads: int, others: float | None
) -> None:
    """What ran, on how many threads, and how much of the CPUs other processes took meanwhile."""
    print(
        f"wav2vec2-base (random weights), {clips} clips of {CLIP_S:g} s: "
        f"{mono} x 16 kHz mono, {stereo} x 44.1 kHz stereo; onnxruntime {ort.__version__}"
    )
    asked = "ORT's default" if threads == 0 else "asked"
    print(
        f"ORT intra-op threads: {pool if pool is not None else '?'} "
        f"(--threads {threads}: {asked}; {os.cpu_count()} CPUs)"
    )
    # Other work on the machine skews every figure: say so rather than print clean-looking noise.
    shown = "?" if others is None else f"{100 * others:.0f}%"
    print(f"CPU time taken by other processes during the run: {shown} of the machine\n")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__)
    parser.add_argument("--clips", type=int, help="16 kHz mono clips (default 32, 8 with --quick)")
    parser.add_argument("--quick", action="store_true", help="fewer clips: a smoke run")
    parser.add_argument(
        "--threads", type=int, default=0, help="ORT intra-op threads (0: ORT's default)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Build the model if needed, write the clips, measure and print."""
    args = parse_args(argv)
    mono = args.clips or (8 if args.quick else 32)
    stereo = 2 if args.quick else 4
    model = ensure_model()
    before = cpu_snapshot()
    with tempfile.TemporaryDirectory(prefix="earmark-bench-") as tmp:
        paths = write_clips(Path(tmp), mono, stereo)
        settings = Settings(local_roots=tmp, max_batch=max(BATCHES))
        results = {dtype: measure(model, paths, dtype, settings, args.threads) for dtype in DTYPES}
    others = others_share(before, cpu_snapshot())
    print_header(len(paths), mono, stereo, results[DTYPES[0]][2], args.threads, others)
    print_throughput({dtype: speeds for dtype, (speeds, _, _) in results.items()})
    print_stages({dtype: stages for dtype, (_, stages, _) in results.items()}, len(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
