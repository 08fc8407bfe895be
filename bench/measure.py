"""The in-process measurements of one model and dtype: ceiling, earmark, stages, ORT variants.

Each returns rows or stage seconds for ``bench/rows.py``; the CPU meter of ``bench/meter.py``
records how much of the machine other processes took during each timed pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from bench.ceiling import VARIANTS, RawSession, chunks, precompute, time_pass
from bench.meter import Meter, Usage
from bench.rows import CEILING, Row, Stages
from bench.workloads import Workload
from producer.refs import parse_ref
from producer.settings import Dtype, Settings
from worker.audio import decode_file
from worker.batching import plan_calls
from worker.classification import AudioClassificationPipeline, pipeline
from worker.classifier import Classifier
from worker.fetch import Fetcher, FetchLimits

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
    rate = classifier.sampling_rate
    return [
        decode_file(path.read_bytes(), target_rate=rate, max_seconds=600.0).waveform
        for path in workload.paths
    ]


def batch_plan(
    classifier: Classifier, waves: Sequence[np.ndarray], settings: Settings
) -> list[list[int]]:
    """How earmark groups these waveforms into model calls under these settings."""
    budget = round(settings.max_batch_seconds * classifier.sampling_rate)
    return plan_calls([len(w) for w in waves], settings.max_batch, classifier.mode, budget)


def in_process(pipe: AudioClassificationPipeline, refs: Sequence[str], batch: int) -> float:
    """Seconds of one pass of ``iter_records`` over ``refs``."""
    started = time.perf_counter()
    for record in pipe.iter_records(refs, batch_size=batch):
        if record.status != "ok":  # an error record means a broken bench, not a slow one
            raise RuntimeError(f"{record.input}: {record.error}")
    return time.perf_counter() - started


def paired_rows(
    case: Case,
    workload: Workload,
    batches: Sequence[int],
    earmark_batches: Sequence[int],
    meter: Meter,
) -> list[Row]:
    """Raw ONNX Runtime on precomputed features at each batch size (the ceiling), and earmark
    in process on the file paths at each of ``earmark_batches``.

    Where both run at one batch size their passes take turns, ``case.repeat`` each, the
    fastest of each kept: a machine whose speed drifts over a run then moves both alike, and
    their ratio holds. On the keyword case a ceiling batch is ``batch`` consecutive clips; on
    the mix it is what earmark's plan groups at that batch (lengths that may share a call), so
    both run the same calls.
    """
    classifier = load_pipeline(case, workload, max(batches)).classifier
    waves = waveforms(classifier, workload)
    session = RawSession(case.onnx_path())
    refs = [str(path) for path in workload.paths]
    rows = []
    for batch in batches:
        if workload.name == "keyword":
            plan = chunks(len(waves), batch)
        else:
            plan = batch_plan(classifier, waves, settings_for(workload, batch))
        feeds = precompute(classifier.extractor, waves, plan)
        passes = {CEILING: partial(time_pass, session, feeds)}
        if batch in earmark_batches:
            pipe = load_pipeline(case, workload, batch)
            passes[IN_PROCESS] = partial(in_process, pipe, refs, batch)
        rows += _taking_turns(case, workload, batch, passes, meter)
    return rows


def _taking_turns(
    case: Case,
    workload: Workload,
    batch: int,
    passes: Mapping[str, Callable[[], float]],
    meter: Meter,
) -> list[Row]:
    """One row per pass, each the fastest of ``case.repeat`` timed runs after an untimed one,
    the passes taking turns."""
    for run in passes.values():
        run()  # untimed: first calls, page faults, the arena's first growth
    best = dict.fromkeys(passes, float("inf"))
    usage: dict[str, Usage] = {}
    with meter.phase(usage, "pass"):
        for _ in range(case.repeat):
            for name, run in passes.items():
                best[name] = min(best[name], run())
    clips = len(workload.paths)
    return [_row(case, workload, name, batch, clips, best[name], usage["pass"]) for name in passes]


def _row(
    case: Case, workload: Workload, path: str, batch: int, clips: int, seconds: float, usage: Usage
) -> Row:
    return Row(case.name, case.dtype, workload.name, path, batch, clips, seconds, usage.others)


def variant_rows(case: Case, workload: Workload, batch: int, meter: Meter) -> list[Row]:
    """Raw ONNX Runtime at one batch size under each session-option variant."""
    pipe = load_pipeline(case, workload, batch)
    waves = waveforms(pipe.classifier, workload)
    feeds = precompute(pipe.classifier.extractor, waves, chunks(len(waves), batch))
    rows = []
    for name, configure in VARIANTS.items():
        session = RawSession(case.onnx_path(), configure)
        rows += _taking_turns(
            case, workload, batch, {name: partial(time_pass, session, feeds)}, meter
        )
    return rows


def stage_seconds(case: Case, workload: Workload, batch: int) -> Stages:
    """Fetch, decode, features and model timed one at a time with earmark's code.

    One ffmpeg filter graph decodes, downmixes and resamples, so its time is all under decode
    and the resample stage is 0.
    """
    settings = settings_for(workload, batch)
    pipe = load_pipeline(case, workload, batch)
    classifier = pipe.classifier
    fetcher = Fetcher(
        FetchLimits(local_roots=settings.local_root_list, max_bytes=settings.max_bytes)
    )
    started = time.perf_counter()
    blobs = [fetcher.fetch(parse_ref(str(path))) for path in workload.paths]
    fetched = time.perf_counter()
    waves = [pipe.loader.decode(blob).waveform for blob in blobs]
    decoded_at = time.perf_counter()
    features_s = model_s = 0.0
    classifier.model.run(classifier.extractor(waves[:1]))  # untimed first call
    for rows in batch_plan(classifier, waves, settings):
        begun = time.perf_counter()
        features = classifier.extractor([waves[i] for i in rows])
        extracted = time.perf_counter()
        classifier.model.run(features)
        features_s += extracted - begun
        model_s += time.perf_counter() - extracted
    return Stages(fetched - started, decoded_at - fetched, 0.0, features_s, model_s)
