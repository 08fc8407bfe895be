"""The in-process measurements of one model and dtype: ceiling, earmark, stages, ORT variants.

Each returns rows or stage seconds for ``bench/rows.py``; the CPU meter of ``bench/meter.py``
records how much of the machine other processes took during each timed pass.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.ceiling import VARIANTS, RawSession, chunks, precompute, time_batches
from bench.meter import Meter, Usage
from bench.rows import CEILING, Row, Stages
from bench.workloads import Workload
from producer.refs import parse_ref
from producer.settings import Dtype, Settings
from worker.audio import decode_audio, resample, to_mono
from worker.batching import plan_batches
from worker.classifier import Classifier
from worker.fetch import Fetcher, FetchLimits
from worker.pipeline import AudioClassificationPipeline, pipeline

#: The path name of earmark's in-process pipeline.
IN_PROCESS = "earmark in-process (pipeline on paths)"


@dataclass(frozen=True)
class Case:
    """One model and dtype, with the batch sizes to measure and earmark's largest batch."""

    name: str
    folder: Path
    dtype: Dtype
    batches: tuple[int, ...]
    max_batch: int
    repeat: int = 1  # timed passes per row; the fastest is kept (load only ever slows a pass)

    def onnx_path(self) -> Path:
        """The graph this dtype runs."""
        return (
            self.folder
            / "onnx"
            / ("model.onnx" if self.dtype == "fp32" else "model_quantized.onnx")
        )


def settings_for(workload: Workload, batch: int) -> Settings:
    """In-process settings: clips under the workload's folder, at most ``batch`` per call.

    On the keyword case the seconds bound is lifted to the batch's audio, so that batch 16 is 16
    clips per call as in the ceiling; on the mix it stays at its default, and the ceiling
    follows the same plan.
    """
    seconds = float(batch) + 1.0 if workload.name == "keyword" else Settings().max_batch_seconds
    roots = str(workload.paths[0].parent)
    return Settings(local_roots=roots, max_batch=batch, max_batch_seconds=seconds)


def load_pipeline(case: Case, workload: Workload, batch: int) -> AudioClassificationPipeline:
    """earmark's pipeline on the case's model, as a worker process would build it."""
    return pipeline(
        "audio-classification",
        str(case.folder),
        dtype=case.dtype,
        settings=settings_for(workload, batch),
    )


def waveforms(classifier: Classifier, workload: Workload) -> list[np.ndarray]:
    """The workload's clips decoded, downmixed and resampled as the worker does."""
    waves = []
    for path in workload.paths:
        decoded = decode_audio(path.read_bytes(), max_seconds=600.0)
        mono = to_mono(decoded.samples, decoded.layout)
        waves.append(resample(mono, decoded.sample_rate, classifier.sampling_rate))
    return waves


def batch_plan(
    classifier: Classifier, waves: Sequence[np.ndarray], settings: Settings
) -> list[list[int]]:
    """How earmark groups these waveforms into model calls under these settings."""
    budget = round(settings.max_batch_seconds * classifier.sampling_rate)
    return plan_batches([len(w) for w in waves], settings.max_batch, classifier.mode, budget)


def in_process(pipe: AudioClassificationPipeline, workload: Workload, batch: int) -> float:
    """Seconds of one pass of ``iter_records`` over the workload, after one untimed batch."""
    refs = [str(path) for path in workload.paths]
    _check(pipe, refs[:batch], batch)
    started = time.perf_counter()
    _check(pipe, refs, batch)
    return time.perf_counter() - started


def _check(pipe: AudioClassificationPipeline, refs: Sequence[str], batch: int) -> None:
    for record in pipe.iter_records(refs, batch_size=batch):
        if record.status != "ok":  # an error record means a broken bench, not a slow one
            raise RuntimeError(f"{record.input}: {record.error}")


def earmark_rows(case: Case, workload: Workload, batches: Sequence[int], meter: Meter) -> list[Row]:
    """earmark in-process at each batch size on one workload."""
    rows = []
    for batch in batches:
        pipe = load_pipeline(case, workload, batch)
        usage: dict[str, Usage] = {}
        with meter.phase(usage, "pass"):
            seconds = min(in_process(pipe, workload, batch) for _ in range(case.repeat))
        clips = len(workload.paths)
        rows.append(
            Row(
                case.name,
                case.dtype,
                workload.name,
                IN_PROCESS,
                batch,
                clips,
                seconds,
                usage["pass"].others,
            )
        )
    return rows


def ceiling_rows(case: Case, workload: Workload, batches: Sequence[int], meter: Meter) -> list[Row]:
    """Raw ONNX Runtime on precomputed features at each batch size.

    On the keyword case a batch is ``batch`` consecutive clips; on the mix it is what earmark's
    plan groups at that largest batch (lengths that may share a call), so both run the same calls.
    """
    pipe = load_pipeline(case, workload, max(batches))
    classifier = pipe.classifier
    waves = waveforms(classifier, workload)
    session = RawSession(case.onnx_path())
    rows = []
    for batch in batches:
        if workload.name == "keyword":
            plan = chunks(len(waves), batch)
        else:
            plan = batch_plan(classifier, waves, settings_for(workload, batch))
        feeds = precompute(classifier.extractor, waves, plan)
        usage: dict[str, Usage] = {}
        with meter.phase(usage, "pass"):
            timed = time_batches(session, feeds, len(waves), case.repeat)
        rows.append(
            Row(
                case.name,
                case.dtype,
                workload.name,
                CEILING,
                batch,
                timed.clips,
                timed.seconds,
                usage["pass"].others,
            )
        )
    return rows


def variant_rows(case: Case, workload: Workload, batch: int, meter: Meter) -> list[Row]:
    """Raw ONNX Runtime at one batch size under each session-option variant."""
    pipe = load_pipeline(case, workload, batch)
    waves = waveforms(pipe.classifier, workload)
    feeds = precompute(pipe.classifier.extractor, waves, chunks(len(waves), batch))
    rows = []
    for name, configure in VARIANTS.items():
        session = RawSession(case.onnx_path(), configure)
        usage: dict[str, Usage] = {}
        with meter.phase(usage, "pass"):
            timed = time_batches(session, feeds, len(waves), case.repeat)
        rows.append(
            Row(
                case.name,
                case.dtype,
                workload.name,
                name,
                batch,
                timed.clips,
                timed.seconds,
                usage["pass"].others,
            )
        )
    return rows


def stage_seconds(case: Case, workload: Workload, batch: int) -> Stages:
    """Fetch, decode, resample, features and model timed one at a time with earmark's code."""
    settings = settings_for(workload, batch)
    classifier = load_pipeline(case, workload, batch).classifier
    fetcher = Fetcher(
        FetchLimits(local_roots=settings.local_root_list, max_bytes=settings.max_bytes)
    )
    started = time.perf_counter()
    blobs = [fetcher.fetch(parse_ref(str(path))) for path in workload.paths]
    fetched = time.perf_counter()
    decoded = [decode_audio(blob, max_seconds=600.0) for blob in blobs]
    decoded_at = time.perf_counter()
    rate = classifier.sampling_rate
    waves = [resample(to_mono(d.samples, d.layout), d.sample_rate, rate) for d in decoded]
    resampled = time.perf_counter()
    features_s = model_s = 0.0
    classifier.model.run(classifier.extractor(waves[:1]))  # untimed first call
    for rows in batch_plan(classifier, waves, settings):
        begun = time.perf_counter()
        features = classifier.extractor([waves[i] for i in rows])
        extracted = time.perf_counter()
        classifier.model.run(features)
        features_s += extracted - begun
        model_s += time.perf_counter() - extracted
    return Stages(
        fetched - started, decoded_at - fetched, resampled - decoded_at, features_s, model_s
    )
