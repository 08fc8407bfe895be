"""Long recordings through the queue: windows as a job option, timelines beside the records.

A real worker labels a recording in windows asked for by the Client (both queues), the command
line and a manifest line; each window's scores are the in-process pipeline's on that window's
samples, the pooled labels their mean, and `earmark results JOB --timeline` prints the timeline.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from producer.client import Client
from producer.records import ResultRecord
from producer.settings import Settings
from producer.sources import SourceItem, from_manifest
from producer.timelines import Timeline
from producer.windowing import WindowOptions
from tests.models import GOLDEN_AUDIO, model_dir
from tests.servers import HttpServer
from tests.workers import (
    SHORT_TIMERS,
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


#: A long recording's length: 10 minutes of 48 kHz stereo 16-bit WAV is 115 MB of file and 38 MB
#: of decoded 16 kHz mono: either, held whole, shows in the pool process's peak.
LONG_S = 600
#: Most a pool process's peak may pass its peak on a short recording of the same model calls
#: (on the tiny model those take ~140 MB, as for any clips): the read-ahead queue, a chunk, a
#: window buffer and the timeline, well under the file or its waveform.
STREAM_GROWTH_MB = 45.0
#: The control recording: as many windows as the long one leaves in its last model call, plus
#: one full call, so that it makes every call shape the long one makes.
CONTROL_S = 24


def _long_wav(path: Path, seconds: int) -> None:
    """Stereo 48 kHz 16-bit noise and tones, written a minute at a time (never held whole)."""
    rng = np.random.default_rng(11)
    with sf.SoundFile(path, "w", 48_000, 2, subtype="PCM_16") as out:
        for minute in range(seconds // 60):
            t = np.arange(60 * 48_000) / 48_000
            tone = 0.2 * np.sin(2 * np.pi * (220 + 20 * minute) * t)
            noise = 0.05 * rng.standard_normal(len(t))
            out.write(np.stack([tone + noise, noise], axis=1).astype(np.float32))


class _PeakRss:
    """The largest resident size of one process, sampled on a thread."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.peak = self.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def now(self) -> float:
        return float(self.process.memory_info().rss) / 1e6

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.now())

    def take(self) -> float:
        """The peak so far, then start again from now."""
        peak, self.peak = self.peak, self.now()
        return peak

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


@pytest.mark.slow
def test_a_long_recording_streams_from_every_source_in_bounded_memory(
    redis_url: str,
    s3_server: str,
    s3_client: Any,
    http_server: HttpServer,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    """Given 10 minutes of 48 kHz stereo WAV (115 MB) from a local path, S3 and a URL, with
    EARMARK_MAX_BYTES at 10 MB and EARMARK_MAX_SECONDS at 60 s (a whole clip that long is
    refused): each is labelled in 600 windows with a timeline, and the pool process's peak
    passes its peak on a 24 s recording from the same sources, of the same model calls, by
    less than the file or its decoded waveform would add if it were held (issue 22)."""
    import psutil

    folder = tmp_path / "long"
    folder.mkdir()
    _long_wav(folder / "meeting.wav", LONG_S)
    sf.write(folder / "short.wav", np.zeros((CONTROL_S * 48_000, 2), np.float32), 48_000)
    s3_client.create_bucket(Bucket="long")
    for name in ("meeting.wav", "short.wav"):
        s3_client.upload_file(str(folder / name), "long", name)
        os.link(folder / name, http_server.root / name)
    env = worker_env(
        redis_url,
        (tmp_path / "results").as_uri(),
        {
            "EARMARK_LOCAL_ROOTS": str(folder),
            "EARMARK_MAX_BYTES": str(10 * 1024 * 1024),
            "EARMARK_MAX_SECONDS": "60",
            "EARMARK_URL_ALLOW_PRIVATE": "1",
            "AWS_ENDPOINT_URL": s3_server,
            "AWS_ACCESS_KEY_ID": "moto-fake-access-key",
            "AWS_SECRET_ACCESS_KEY": "moto-fake-secret-key",
            "AWS_DEFAULT_REGION": "us-east-1",
        },
    )
    workers.append(start_worker(env, tmp_path / "worker.log", "--concurrency", "1"))
    workers[0].wait_ready()
    (pool,) = psutil.Process(workers[0].process.pid).children()
    client = client_for(env)
    whole = client.submit(str(folder / "meeting.wav"))
    record = client.result(whole, wait=True, timeout=RECORDS_TIMEOUT_S)
    assert record is not None and record.error is not None and record.error.code == "too_large"
    assert record.hint is not None and "EARMARK_MAX_WINDOWED_SECONDS" in record.hint
    window = {"window_s": 1.0, "timeline": True}
    rss = _PeakRss(pool.pid)
    sources = [f"{folder}/{{}}", "s3://long/{}", http_server.url("/files/{}")]
    for short in [client.submit(s.format("short.wav"), window=window) for s in sources]:
        record = client.result(short, wait=True, timeout=RECORDS_TIMEOUT_S)
        assert record is not None and record.status == "ok", record
    control = rss.take()  # every source's client made, every call shape run
    jobs = [client.submit(s.format("meeting.wav"), window=window) for s in sources]
    for job in jobs:
        done = client.result(job, wait=True, timeout=RECORDS_TIMEOUT_S * 3)
        assert done is not None and done.status == "ok", done
        assert done.windows is not None and done.windows.count == LONG_S
        assert done.audio is not None and done.audio.duration_s == LONG_S
        assert len(done.to_json()) < 64 * 1024  # the timeline is beside it, not in it
        timeline = client.timeline(job)
        assert timeline is not None and timeline.windows[-1].end_s == LONG_S
    peak = rss.stop()
    print(f"pool process peak: {control:.0f} MB on 24 s, {peak:.0f} MB on 10 min, three sources")
    assert peak - control < STREAM_GROWTH_MB, (control, peak)


@pytest.mark.slow
def test_a_worker_killed_mid_recording_loses_nothing(
    redis_url: str, recording: Path, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    """Given a chunk of two clips and a 20-minute recording (windows every 0.25 s), and the
    worker killed (SIGKILL, its whole group) while it labels the recording: the clips' records
    are already written, the recording has neither record nor timeline (nothing partial is
    ever read as final), and after a replacement starts every job has exactly one record, the
    recording's timeline whole."""
    folder = tmp_path / "long"
    folder.mkdir()
    long = folder / "hour.wav"
    with sf.SoundFile(long, "w", 16_000, 1, subtype="PCM_16") as out:
        rng = np.random.default_rng(3)
        for _ in range(20):
            out.write((0.1 * rng.standard_normal(60 * 16_000)).astype(np.float32))
    clips = [str(p) for p in sorted(GOLDEN_AUDIO.glob("*.wav"))[:2]]
    env = worker_env(
        redis_url,
        (tmp_path / "results").as_uri(),
        {"EARMARK_LOCAL_ROOTS": f"{GOLDEN_AUDIO}:{folder}"},
    )
    first = start_worker(env, tmp_path / "first.log", "--concurrency", "1")
    workers.append(first)
    first.wait_ready()
    client = client_for(env)
    window = WindowOptions(window_s=1.0, hop_s=0.25, timeline=True)
    items = [SourceItem(clips[0]), SourceItem(str(long), window=window), SourceItem(clips[1])]
    batch = client.submit_many(items).batch_id
    clip_jobs, long_job = [f"{batch}:0", f"{batch}:2"], f"{batch}:1"
    for job in clip_jobs:  # written before the recording starts
        assert client.result(job, wait=True, timeout=RECORDS_TIMEOUT_S) is not None
    time.sleep(2.0)
    assert client.result(long_job) is None, "the recording ended before the kill: make it longer"
    os.killpg(first.process.pid, signal.SIGKILL)
    first.process.wait()
    assert client.result(long_job) is None and client.store.get_timeline(long_job) is None
    replacement = start_worker(env, tmp_path / "second.log", "--concurrency", "1")
    workers.append(replacement)
    replacement.wait_ready()
    record = client.result(long_job, wait=True, timeout=RECORDS_TIMEOUT_S * 3)
    assert record is not None and record.status == "ok", record
    assert record.windows is not None and record.windows.count == 20 * 60 * 4 - 3
    timeline = client.timeline(long_job)
    assert timeline is not None and len(timeline.windows) == record.windows.count
    records = list(client.iter_results(batch))
    assert sorted(r.job_id or "" for r in records) == sorted([*clip_jobs, long_job])
    status = client.status(batch)
    assert (status.total, status.done, status.pending) == (3, 3, 0)


def test_a_chunks_time_limit_grows_by_the_windowed_cap_per_recording() -> None:
    """A chunk of clips keeps EARMARK_CHUNK_TIME_LIMIT_S; each windowed job (its own window,
    or the chunk's) adds EARMARK_MAX_WINDOWED_SECONDS; a malformed chunk adds nothing."""
    from worker.service.time_limits import chunk_time_limit

    clips = {"jobs": [{"ref": "/a"}, {"ref": "/b"}]}
    assert chunk_time_limit(clips, 3600, 86400) == 3600
    own = {"jobs": [{"ref": "/a"}, {"ref": "/b", "window": {"window_s": 1}}]}
    assert chunk_time_limit(own, 3600, 86400) == 3600 + 86400
    shared = {**clips, "window": {"window_s": 1}}
    assert chunk_time_limit(shared, 3600, 86400) == 3600 + 2 * 86400
    for malformed in (None, "chunk", {"jobs": "x"}, {"jobs": [1, None]}):
        assert chunk_time_limit(malformed, 3600, 86400) == 3600


@pytest.mark.slow
def test_a_recording_longer_to_label_than_the_chunk_time_limit_is_not_killed(
    redis_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    """Given EARMARK_CHUNK_TIME_LIMIT_S at 2 s and a 10-minute recording in windows every
    0.25 s (longer to label than that limit and one visibility timeout): the chunk is neither
    killed nor let go by the heartbeat (delivered once), and its record is ok; a chunk of clips
    alone would have been held to the 2 s."""
    folder = tmp_path / "long"
    folder.mkdir()
    path = folder / "ten.wav"
    rng = np.random.default_rng(5)
    sf.write(path, (0.1 * rng.standard_normal(600 * 16_000)).astype(np.float32), 16_000)
    env = worker_env(
        redis_url,
        (tmp_path / "results").as_uri(),
        {"EARMARK_LOCAL_ROOTS": str(folder), "EARMARK_CHUNK_TIME_LIMIT_S": "2"},
    )
    workers.append(start_worker(env, tmp_path / "worker.log", "--concurrency", "1"))
    workers[0].wait_ready()
    client = client_for(env)
    started = time.monotonic()
    window = {"window_s": 1.0, "hop_s": 0.25}
    batch = client.submit_many([str(path)], window=window).batch_id
    record = client.result(f"{batch}:0", wait=True, timeout=RECORDS_TIMEOUT_S)
    took = time.monotonic() - started
    assert record is not None and record.status == "ok", record
    assert record.windows is not None and record.windows.count == 2397
    hold_s = 2 + float(SHORT_TIMERS["EARMARK_VISIBILITY_TIMEOUT_S"])
    assert took > hold_s, f"labelled in {took:.1f} s: too fast to prove the limit grew"
    log = workers[0].log.read_text(errors="replace")
    assert "TimeLimitExceeded" not in log
    assert log.count("earmark.classify_chunk[") == 2, log[-3000:]  # received, succeeded
