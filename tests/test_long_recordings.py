"""Long recordings through the queue: windows as a job option, timelines beside the records.

A real worker labels a recording in windows asked for by the Client (both queues), the command
line and a manifest line; each window's scores are the in-process pipeline's on that window's
samples, the pooled labels their mean, and `earmark results JOB --timeline` prints the timeline.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from producer.client import Client
from producer.records import ResultRecord
from producer.settings import Settings
from producer.sources import from_manifest
from producer.timelines import Timeline
from tests.models import GOLDEN_AUDIO, model_dir
from tests.workers import (
    WorkerProcess,
    client_for,
    run_earmark,
    start_worker,
    worker_env,
)
from worker.classification import AudioClassificationPipeline, pipeline

pytestmark = pytest.mark.worker

#: Seconds for a handful of windowed jobs on the tiny model.
RECORDS_TIMEOUT_S = 120.0
#: The recording: golden clips and noise, 12.5 s at 16 kHz (not a whole number of windows).
SECONDS = 12.5
WINDOW = {"window_s": 1.0, "hop_s": 0.5, "timeline": True}
#: Largest score gap between a window in the worker's calls and the same samples alone (issue
#: 22's bound): windows share calls of 16, and fp32 GEMMs of 16 rows and of 1 round apart by up
#: to ~1.1e-5 on this model (equal at 16 and 32).
WINDOW_ATOL = 1e-4


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12.5 s recording of the golden clips between stretches of quiet noise."""
    rng = np.random.default_rng(22)
    parts = []
    for clip in sorted(GOLDEN_AUDIO.glob("*.wav"))[:5]:
        samples, rate = sf.read(clip, dtype="float32", always_2d=True)
        assert rate == 16_000
        parts += [samples.mean(axis=1), 0.01 * rng.standard_normal(8_000).astype(np.float32)]
    audio = np.concatenate(parts)
    total = int(SECONDS * 16_000)
    audio = np.pad(audio, (0, max(0, total - len(audio))))[:total]
    path = tmp_path_factory.mktemp("long") / "recording.wav"
    sf.write(path, audio, 16_000, subtype="FLOAT")
    return path


@pytest.fixture
def env(redis_url: str, recording: Path, tmp_path: Path) -> dict[str, str]:
    return worker_env(
        redis_url,
        (tmp_path / "results").as_uri(),
        {"EARMARK_LOCAL_ROOTS": str(recording.parent), "EARMARK_TOP_K": "0"},
    )


@pytest.fixture
def client(env: dict[str, str], tmp_path: Path, workers: list[WorkerProcess]) -> Iterator[Client]:
    workers.append(start_worker(env, tmp_path / "worker.log"))
    workers[0].wait_ready()
    yield client_for(env)


@pytest.fixture(scope="module")
def reference(recording: Path) -> AudioClassificationPipeline:
    """The in-process pipeline on the worker's model, all labels."""
    settings = Settings(
        model=str(model_dir("wav2vec2")),
        dtype="fp32",
        top_k=0,
        local_roots=str(recording.parent),
    )
    return pipeline(settings=settings)


def _scores(record_labels: object) -> dict[str, float]:
    return {label.label: label.score for label in record_labels}  # type: ignore[attr-defined]


def _check_against_the_pipeline(
    record: ResultRecord,
    timeline: Timeline,
    recording: Path,
    reference: AudioClassificationPipeline,
) -> None:
    """Each window's scores are the pipeline's on that window's samples, alone; the
    record's labels are their mean; the record counts the windows and segments."""
    waveform = reference.loader.load(str(recording)).waveform
    assert record.windows is not None and record.labels is not None
    assert record.windows.count == len(timeline.windows) == 24  # 0, 0.5, … 11, then 11.5
    assert record.windows.segments == len(timeline.segments) >= 1
    assert timeline.windows[-1].end_s == pytest.approx(SECONDS)
    windows = [
        {"array": waveform[round(w.start_s * 16_000) : round(w.end_s * 16_000)],
         "sampling_rate": 16_000}
        for w in timeline.windows
    ]  # fmt: skip
    alone = [_scores(r.labels) for r in reference.iter_records(windows, batch_size=1)]
    for window, expected in zip(timeline.windows, alone, strict=True):
        ours = _scores(window.labels)
        assert max(abs(ours[k] - expected[k]) for k in expected) <= WINDOW_ATOL
    mean = {k: float(np.mean([scores[k] for scores in alone])) for k in alone[0]}
    pooled = _scores(record.labels)
    assert max(abs(pooled[k] - mean[k]) for k in mean) <= WINDOW_ATOL


def test_windows_through_both_queues_match_the_pipeline_window_by_window(
    client: Client, recording: Path, reference: AudioClassificationPipeline
) -> None:
    """Given a windowed job on each queue and a whole-clip job in the same micro-batch: each
    window's scores equal the pipeline's on its samples, whichever call it shared; the
    whole-clip job, over the tiny model's call bound (about 9 s), is refused as too_large, with
    a hint naming the window option that would have labelled it, and has no timeline."""
    ref = str(recording)
    interactive = client.submit(ref, window=WINDOW)
    whole = client.submit(ref)
    bulk = client.submit_many([ref], window=WINDOW)
    for job in (interactive, f"{bulk.batch_id}:0"):
        record = client.result(job, wait=True, timeout=RECORDS_TIMEOUT_S)
        timeline = client.timeline(job)
        assert record is not None and record.status == "ok" and timeline is not None, record
        _check_against_the_pipeline(record, timeline, recording, reference)
    plain = client.result(whole, wait=True, timeout=RECORDS_TIMEOUT_S)
    assert plain is not None and plain.error is not None and plain.windows is None, plain
    assert plain.error.code == "too_large" and plain.hint is not None
    assert "window_s" in plain.hint and "EARMARK_WINDOWS=auto" in plain.hint
    assert client.timeline(whole) is None


def test_the_command_line_and_a_manifest_ask_for_windows_and_print_the_timeline(
    client: Client, env: dict[str, str], recording: Path, tmp_path: Path
) -> None:
    """`enqueue --window --hop --timeline`, a manifest line's window keys, `results --timeline`
    (JSON lines: windows, then segments) and its refusals: a batch id (exit 2), a job that
    asked for no timeline (exit 1)."""
    batch = uuid.uuid4().hex
    done = run_earmark(
        env, "enqueue", str(recording), "--batch-id", batch, "--window", "1", "--hop", "0.5",
        "--aggregate", "max", "--timeline", "--wait", "--timeout", str(RECORDS_TIMEOUT_S),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = ResultRecord.model_validate_json(done.stdout.splitlines()[-1])
    assert record.windows is not None and record.windows.aggregate == "max"
    shown = run_earmark(env, "results", f"{batch}:0", "--timeline")
    assert shown.returncode == 0, shown.stderr
    lines = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [set(line) for line in lines[:24]] == [{"start_s", "end_s", "labels"}] * 24
    assert lines[24:] and all(set(line) == {"segment"} for line in lines[24:])
    assert Timeline.from_jsonl(shown.stdout, "stdout") == client.timeline(f"{batch}:0")
    refused = run_earmark(env, "results", batch, "--timeline")
    assert refused.returncode == 2 and "job id" in refused.stderr
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"ref": str(recording), "window_s": 2.0, "timeline": True, "site": "a"})
        + "\n"
        + json.dumps({"ref": str(recording), "window_s": 3.0, "site": "b"})
        + "\n"
    )
    submission = client.submit_many(from_manifest(manifest))
    records = {
        r.job_id: r
        for r in client.iter_results(submission.batch_id, wait=True, timeout=RECORDS_TIMEOUT_S)
    }
    first, second = records[f"{submission.batch_id}:0"], records[f"{submission.batch_id}:1"]
    assert first.meta == {"site": "a"} and first.windows is not None
    assert first.windows.count == 7 and first.windows.window_s == 2.0
    assert second.meta == {"site": "b"} and second.windows is not None
    assert second.windows.count == 5 and not second.windows.timeline
    untimed = run_earmark(env, "results", f"{submission.batch_id}:1", "--timeline")
    assert untimed.returncode == 1 and "asked for no timeline" in untimed.stderr
