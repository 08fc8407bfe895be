"""Long-form throughput (issue 22): a long recording in 1 s windows, side by side with the ceiling.

``python -m bench.longform [--seconds 3600] [--no-queue]`` writes a 48 kHz stereo 16-bit WAV
(a minute at a time, never held whole, deleted after), then measures in one run: the ceiling
(raw ONNX Runtime on precomputed features of 1 s windows of the same recording, batch 16),
earmark in process (``iter_predictions`` with 1 s windows, 1 s hop) and earmark through one
worker (``Client.submit(ref, window=...)``), windows/s each, and the stream's share of model
time (the record's ``decode_s`` over its ``infer_s``: what the model waited on the stream).
``--quick`` runs it on the tiny test wav2vec2 and 60 s of audio. Both earmark paths run at most
16 windows a call (``EARMARK_MAX_BATCH=16``, ``EARMARK_MAX_BATCH_SECONDS=17``), as the ceiling.
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
import soundfile as sf

from bench.ceiling import RawSession, chunks, precompute, time_pass
from bench.make_model import MODELS_DIR, ensure_model
from bench.meter import Meter, Usage
from bench.queue import metered_redis, running_worker, worker_environment
from producer.client import Client
from producer.records import ResultRecord
from producer.settings import Settings
from producer.windowing import WindowOptions
from worker.audio import decode_file
from worker.classification import pipeline

#: The tiny test model ``--quick`` runs on.
TEST_MODEL = Path(__file__).resolve().parent.parent / "tests" / "data" / "models" / "wav2vec2"
#: Windows per model call, on every path (the goal's batch).
BATCH = 16
#: 1 s windows side by side (issue 22's long-form goal).
WINDOW = WindowOptions(window_s=1.0, hop_s=1.0)
#: The recording's format: what a field recorder or a meeting app writes.
RATE, CHANNELS = 48_000, 2
#: The goals: windows/s through one worker over the ceiling's; stream wait over model time.
GOAL_RATIO, GOAL_SHARE = 0.9, 0.1


def write_recording(path: Path, seconds: int, fmt: str = "WAV", subtype: str = "PCM_16") -> Path:
    """``seconds`` of 48 kHz stereo tone and noise, written a minute at a time."""
    import numpy as np

    rng = np.random.default_rng(22)
    with sf.SoundFile(path, "w", RATE, CHANNELS, format=fmt, subtype=subtype) as out:
        for start in range(0, seconds, 60):
            n = min(60, seconds - start) * RATE
            t = np.arange(n) / RATE
            tone = 0.2 * np.sin(2 * np.pi * (220 + 20 * (start // 60 % 40)) * t)
            noise = 0.05 * rng.standard_normal(n)
            out.write(np.stack([tone + noise, noise], axis=1).astype(np.float32))
    return path


def settings(folder: Path, roots: Path) -> Settings:
    """earmark's settings on both paths: at most 16 one-second windows a call."""
    return Settings(
        model=str(folder),
        dtype="fp32",
        local_roots=str(roots),
        max_batch=BATCH,
        max_batch_seconds=float(BATCH + 1),
    )


@dataclass(frozen=True)
class Pass:
    """One measured path: windows, seconds, the stream's and the model's seconds, others."""

    path: str
    windows: int
    seconds: float
    others: float | None
    decode_s: float | None = None
    infer_s: float | None = None

    @property
    def rate(self) -> float:
        """Windows per second."""
        return self.windows / self.seconds


def ceiling(folder: Path, recording: Path, windows: int, meter: Meter, repeat: int) -> Pass:
    """Raw ONNX Runtime at batch 16 on features of the recording's first ``windows`` 1 s
    windows (decoded as earmark decodes, features by earmark's extractor, outside the clock)."""
    pipe = pipeline(settings=settings(folder, recording.parent))
    head = recording.parent / "head.wav"
    with sf.SoundFile(recording) as source:
        sf.write(head, source.read(windows * RATE, dtype="int16"), RATE, subtype="PCM_16")
    rate = pipe.classifier.sampling_rate
    wave = decode_file(head.read_bytes(), target_rate=rate, max_seconds=float(windows)).waveform
    head.unlink()
    waves = [wave[i * rate : (i + 1) * rate] for i in range(windows)]
    batches = precompute(pipe.classifier.extractor, waves, chunks(windows, BATCH))
    session = RawSession(folder / "onnx" / "model.onnx")
    time_pass(session, batches[:1])  # warm
    used: dict[str, Usage] = {}
    with meter.phase(used, "ceiling"):
        seconds = min(time_pass(session, batches) for _ in range(repeat))
    return Pass("ceiling (raw ORT, features precomputed)", windows, seconds, used["ceiling"].others)


def in_process(folder: Path, recording: Path, meter: Meter, warm: Path) -> Pass:
    """earmark's pipeline on the recording's path, in 1 s windows; ``warm`` (a short recording
    in the same folder) first, untimed."""
    pipe = pipeline(settings=settings(folder, recording.parent))
    list(pipe.iter_predictions([str(warm)], window=WINDOW))
    used: dict[str, Usage] = {}
    with meter.phase(used, "in-process"):
        started = time.perf_counter()
        (prediction,) = list(pipe.iter_predictions([str(recording)], window=WINDOW))
        seconds = time.perf_counter() - started
    return _from_record("earmark in-process (iter_predictions)", prediction.record, seconds, used)


def _from_record(path: str, record: ResultRecord, seconds: float, used: dict[str, Usage]) -> Pass:
    if record.status != "ok" or record.windows is None or record.timings is None:
        raise RuntimeError(f"{path}: {record.error}")
    timings, (usage,) = record.timings, used.values()
    return Pass(
        path, record.windows.count, seconds, usage.others, timings.decode_s, timings.infer_s
    )


def queued(folder: Path, recording: Path, warm: Path, meter: Meter, tmp: Path) -> Pass:
    """One ``earmark worker --concurrency 1`` labelling the recording as one windowed job,
    timed from submit to record; ``warm`` (a short recording) first, untimed."""
    with metered_redis(meter, tmp) as redis_url:
        base = settings(folder, recording.parent).model_copy(
            update={"broker_url": f"{redis_url}/0", "results_url": (tmp / "results").as_uri()}
        )
        client = Client(base)
        env = worker_environment(base)
        try:
            with running_worker(env, tmp / "worker.log", meter):
                _job(client, warm, 600.0)
                used: dict[str, Usage] = {}
                with meter.phase(used, "queue"):
                    started = time.perf_counter()
                    record = _job(client, recording, 4 * 3600.0)
                    seconds = time.perf_counter() - started
        finally:
            client.celery.close()
    return _from_record("earmark queue (1 worker, one windowed job)", record, seconds, used)


def _job(client: Client, recording: Path, timeout: float) -> ResultRecord:
    job = client.submit(str(recording), window=WINDOW.model_dump(exclude_none=True))
    record = client.result(job, wait=True, timeout=timeout)
    if record is None:
        raise TimeoutError(f"{recording}: no record in {timeout:g} s")
    return record


def report(passes: Sequence[Pass], seconds: int, model: str) -> list[str]:
    """The table, ratios to the ceiling, the stream's share, and the goals."""
    base = passes[0].rate
    lines = [
        f"long-form: {model} fp32, {seconds} s of 48 kHz stereo 16-bit WAV, 1 s windows, "
        f"1 s hop, {BATCH} windows a call",
        f"{'path':<44} {'windows':>7} {'seconds':>8} {'win/s':>7} {'vs ceil':>7} "
        f"{'stream/model':>12} {'model s':>8} {'others':>6}",
    ]
    for p in passes:
        share = "-" if p.decode_s is None or not p.infer_s else f"{p.decode_s / p.infer_s:.3f}"
        model = "-" if p.infer_s is None else f"{p.infer_s:.1f}"
        others = "?" if p.others is None else f"{p.others:.0%}"
        lines.append(
            f"{p.path:<44} {p.windows:>7} {p.seconds:>8.1f} {p.rate:>7.2f} "
            f"{p.rate / base:>6.2f}x {share:>12} {model:>8} {others:>6}"
        )
    lines += _goals(passes)
    return lines


def _goals(passes: Sequence[Pass]) -> list[str]:
    lines = ["goals (issue #22, item 5), measured in this run"]
    for p in passes[1:]:
        ratio = p.rate / passes[0].rate
        met = "met" if ratio >= GOAL_RATIO else "MISSED"
        lines.append(f"  {p.path} vs ceiling: {ratio:.2f}x  goal >= {GOAL_RATIO}x  {met}")
        if p.decode_s is not None and p.infer_s:
            share = p.decode_s / p.infer_s
            met = "met" if share <= GOAL_SHARE else "MISSED"
            lines.append(f"    stream wait / model time: {share:.3f}  goal <= {GOAL_SHARE}  {met}")
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.longform", description=__doc__)
    parser.add_argument("--seconds", type=int, default=None, help="recording length (3600)")
    parser.add_argument("--ceiling-windows", type=int, default=320, help="windows (320)")
    parser.add_argument("--repeat", type=int, default=2, help="ceiling passes, best kept (2)")
    parser.add_argument("--no-queue", action="store_true", help="no worker")
    parser.add_argument("--quick", action="store_true", help="tiny test model, 60 s")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, meter: Meter) -> list[str]:
    """Measure every path on one recording; the report's lines."""
    folder = TEST_MODEL if args.quick else ensure_model(MODELS_DIR / "wav2vec2-base")
    seconds = args.seconds or (60 if args.quick else 3600)
    windows = min(args.ceiling_windows, seconds)
    with tempfile.TemporaryDirectory(prefix="earmark-longform-") as scratch:
        tmp = Path(scratch)
        (tmp / "rec").mkdir()
        print(f"writing {seconds} s of 48 kHz stereo WAV …", file=sys.stderr)
        recording = write_recording(tmp / "rec" / "long.wav", seconds)
        warm = write_recording(tmp / "rec" / "warm.wav", 2 * BATCH)
        passes = [ceiling(folder, recording, windows, meter, args.repeat)]
        print(f"ceiling: {passes[0].rate:.2f} windows/s; in process …", file=sys.stderr)
        passes.append(in_process(folder, recording, meter, warm))
        print(f"in process: {passes[-1].rate:.2f} windows/s", file=sys.stderr)
        if not args.no_queue:
            print("through one worker …", file=sys.stderr)
            passes.append(queued(folder, recording, warm, meter, tmp))
        passes.append(ceiling(folder, recording, windows, meter, args.repeat))
    best = max((p for p in passes if p.path.startswith("ceiling")), key=lambda p: p.rate)
    ordered = [best, *(p for p in passes if not p.path.startswith("ceiling"))]
    return report(ordered, seconds, folder.name)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"onnxruntime {ort.__version__}", file=sys.stderr)
    lines = run(args, Meter())
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
