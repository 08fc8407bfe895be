"""`earmark report`: its numbers equal the store's (Redis, moto's S3 server, a folder, and a real
worker run), its page renders in headless Chromium with its charts, and its memory stays flat on
a 100,000-record batch."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from producer.records import AudioInfo, ErrorInfo, Label, ResultRecord, Timings, WindowSummary
from producer.report import Summary, build, render_html, render_text
from producer.report.sketch import QuantileSketch, TimeSeries
from producer.report.summary import SCORE_BINS, TIMINGS
from producer.state.ledger import Ledger
from producer.state.redis import connect
from producer.stores import ResultsStore
from producer.stores.files import FileStore
from producer.stores.redis import RedisStore
from producer.stores.s3 import S3Store
from scripts.png import png_pixels
from tests.chromium import open_page
from tests.models import GOLDEN_AUDIO
from tests.workers import run_earmark, start_worker, worker_env

BATCH = "night-2026-12-04"
LABELS = ["yes", "no", "up", "down", "left"]
CODES = ["not_found", "decode_failed", "too_large"]
BUCKET = "earmark-report"
#: Bytes a report may grow by from a 1,000- to a 100,000-record batch: records held in memory
#: would take hundreds of megabytes.
MEMORY_SLACK = 40 * 1024 * 1024


def make_records(n: int, seed: int = 7, start: int = 0) -> list[ResultRecord]:
    """`n` records of BATCH, about 15 % failed, finishing over a few minutes."""
    rng, t0 = random.Random(seed), datetime(2026, 12, 4, 1, 0, tzinfo=UTC).timestamp()
    records = []
    for i in range(start, start + n):
        finished = datetime.fromtimestamp(t0 + i * 0.7 + rng.random(), UTC)
        timings = Timings(
            queued_s=0.0 if i % 17 == 0 else rng.expovariate(0.5),
            fetch_s=rng.uniform(0.001, 0.05),
            infer_s=rng.uniform(0.01, 0.2),
        )
        common: dict[str, Any] = {
            "job_id": f"{BATCH}:{i}",
            "batch_id": BATCH,
            "input": f"s3://audio/{i}.wav",
            "timings": timings,
            "finished_at": finished.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if rng.random() < 0.15:
            error = ErrorInfo(code=rng.choice(CODES), message=f"clip {i} would not load")
            records.append(ResultRecord(status="error", error=error, **common))
            continue
        top, score = rng.choices(LABELS, weights=[5, 3, 2, 1, 1])[0], rng.betavariate(5, 2)
        labels = [Label(label=top, score=score), Label(label="_silence_", score=score / 3)]
        records.append(ResultRecord(status="ok", labels=labels, **common))
    return records


def write(store: ResultsStore, records: list[ResultRecord]) -> None:
    """The first 30 as per-job records (as interactive jobs write them), the rest as bulk
    chunk shards of 50."""
    for record in records[:30]:
        store.put(record)
    for at in range(30, len(records), 50):
        store.put_chunk(BATCH, str(at), records[at : at + 50])


def expected(records: list[ResultRecord]) -> dict[str, Any]:
    """The report's numbers, computed here from the records themselves, exactly."""
    ok = [r for r in records if r.status == "ok"]
    scores = [r.labels[0].score for r in ok if r.labels]
    bins = Counter(min(SCORE_BINS - 1, math.floor(s * SCORE_BINS)) for s in scores)
    finished = [datetime.fromisoformat(r.finished_at).timestamp() for r in records]
    spent = [sum(getattr(r.timings, t) or 0.0 for t in TIMINGS) for r in records]
    first = min(f - s for f, s in zip(finished, spent, strict=True))
    return {
        "records": len(records),
        "ok": len(ok),
        "labels": Counter(r.labels[0].label for r in ok if r.labels),
        "errors": Counter(r.error.code for r in records if r.error),
        "bins": [bins[i] for i in range(SCORE_BINS)],
        "scores": sorted(scores),
        "timings": {t: sorted(getattr(r.timings, t) for r in records) for t in ("queued_s",)},
        "seconds": max(finished) - first,
    }


def nearest_rank(values: list[float], q: float) -> float:
    """The exact nearest-rank quantile of sorted `values`."""
    return values[max(1, math.ceil(q * len(values))) - 1]


def check(data: dict[str, Any], want: dict[str, Any]) -> None:
    """The report's data says what `want` (from `expected`) says."""
    assert data["totals"]["records"] == want["records"]
    assert data["totals"]["ok"] == want["ok"]
    assert data["totals"]["error"] == want["records"] - want["ok"]
    assert data["labels"] == dict(want["labels"])
    assert {code: e["count"] for code, e in data["errors"].items()} == dict(want["errors"])
    assert all(len(e["examples"]) == min(3, e["count"]) for e in data["errors"].values())
    assert data["scores"]["histogram"]["counts"] == want["bins"]
    for q, name in ((0.5, "p50"), (0.95, "p95")):
        assert data["scores"][name] == pytest.approx(nearest_rank(want["scores"], q), rel=0.011)
        queued = nearest_rank(want["timings"]["queued_s"], q)
        assert data["timings"]["queued_s"][name] == pytest.approx(queued, rel=0.011)
    assert data["throughput"]["seconds"] == pytest.approx(want["seconds"], abs=0.01)
    rate = want["records"] / want["seconds"]
    assert data["throughput"]["clips_per_s"] == pytest.approx(rate, rel=0.001)
    assert sum(data["completions"]["counts"]) == want["records"]


def test_sketch_quantiles_are_within_one_percent_of_the_exact_ones() -> None:
    """Given 20,000 values over nine decades (and some zeros), every percentile the sketch
    gives is within 1 % of the exact nearest-rank one."""
    rng = random.Random(3)
    values = [0.0] * 500 + [10 ** rng.uniform(-6, 3) for _ in range(19_500)]
    sketch = QuantileSketch()
    for value in values:
        sketch.add(value)
    values.sort()
    for q in (0.01, 0.025, 0.1, 0.5, 0.9, 0.95, 0.99, 1.0):
        assert sketch.quantile(q) == pytest.approx(nearest_rank(values, q), rel=0.01, abs=1e-12)


def test_the_time_series_widens_its_buckets_and_loses_no_event() -> None:
    """Given 100 s of events and room for 10 buckets, the buckets widen along the round widths
    (1 s, 5 s, 10 s) and still hold every event."""
    series = TimeSeries(max_buckets=10)
    for second in [*range(1000, 1100), 1000, 1099]:
        series.add(second)
    start, width, counts = series.buckets()
    assert series.width == width == 10 and len(counts) <= 10
    assert sum(counts) == 102 and start <= 1000 < start + width


def test_windowed_jobs_and_their_hours_are_counted() -> None:
    """Given 300 records, two of them windowed (3 h and 30 min of audio, one with a timeline),
    the report counts 2 windowed jobs and 3.5 h; a batch with none says zeros in its data and
    nothing in its text or page."""
    window = WindowSummary(window_s=1.0, hop_s=0.5, aggregate="mean", count=21_599)
    records = make_records(300)
    for i, (seconds, kept) in enumerate(((10_800.0, True), (1_800.0, False))):
        audio = AudioInfo(duration_s=seconds, sample_rate=16_000, channels=1)
        update = {"windows": window.model_copy(update={"timeline": kept}), "audio": audio}
        records[i] = records[i].model_copy(update=update)
    summary, plain = Summary(BATCH), Summary(BATCH)
    for record in records:
        summary.add(record)
        plain.add(record.model_copy(update={"windows": None}))
    data = summary.data()
    assert data["windowed"] == {"jobs": 2, "audio_s": 12_600.0, "timelines": 1}
    assert "  windowed 2 jobs, 3 h 30 min of audio (1 with a timeline" in render_text(data)
    assert '<b data-field="windowed-audio">3 h 30 min</b>' in render_html(data)
    none = plain.data()
    assert none["windowed"] == {"jobs": 0, "audio_s": 0.0, "timelines": 0}
    assert "windowed" not in render_text(none) and "windowed-jobs" not in render_html(none)


@pytest.fixture(params=["redis", "s3", "file"])
def store(request: pytest.FixtureRequest, redis_url: str, tmp_path: Path) -> Iterator[Any]:
    """A real results store of each kind, and the environment that names it to `earmark`."""
    env = {"EARMARK_BROKER_URL": redis_url}
    if request.param == "redis":
        request.getfixturevalue("redis_client")  # flushed
        yield RedisStore(connect(redis_url)), {**env, "EARMARK_RESULTS_URL": redis_url}
    elif request.param == "s3":
        s3_client, prefix = request.getfixturevalue("s3_client"), f"r-{uuid.uuid4().hex[:8]}"
        if BUCKET not in [b["Name"] for b in s3_client.list_buckets()["Buckets"]]:
            s3_client.create_bucket(Bucket=BUCKET)
        yield (
            S3Store(s3_client, BUCKET, prefix),
            {
                **env,
                "EARMARK_RESULTS_URL": f"s3://{BUCKET}/{prefix}",
                "AWS_ENDPOINT_URL": request.getfixturevalue("s3_server"),
                "AWS_ACCESS_KEY_ID": "moto-fake-access-key",
                "AWS_SECRET_ACCESS_KEY": "moto-fake-secret-key",
                "AWS_DEFAULT_REGION": "us-east-1",
            },
        )
    else:
        yield (
            FileStore(tmp_path / "results"),
            {
                **env,
                "EARMARK_RESULTS_URL": (tmp_path / "results").as_uri(),
            },
        )


def test_the_reports_numbers_are_the_stores(store: Any, tmp_path: Path) -> None:
    """Given 300 records written through the store class and finished in the ledger, `earmark
    report --json` says what the records say; --html writes the page."""
    results, env = store
    ledger = Ledger(connect(env["EARMARK_BROKER_URL"]))
    ledger.client.flushdb()  # a fresh ledger for each store
    records = make_records(300)
    write(results, records)
    ledger.reserve(BATCH, 300)
    ledger.finish(records)
    page = tmp_path / "report.html"
    done = run_earmark(env, "report", BATCH, "--json", "--html", str(page))
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    check(data, expected(records))
    failed = sum(r.status == "error" for r in records)
    assert data["totals"]["ledger"] == {"total": 300, "done": 300, "failed": failed, "pending": 0}
    assert page.read_text().startswith("<!DOCTYPE html>")


#: Run in the page: every number the test compares, read from the DOM.
PAGE_NUMBERS = """JSON.stringify({
  fields: Object.fromEntries([...document.querySelectorAll('[data-field]')]
    .map(td => [td.dataset.field, td.textContent])),
  bars: [...document.querySelectorAll('svg.chart rect.bar')].map(r => ({
    chart: r.closest('svg').id, name: r.dataset.name, count: Number(r.dataset.count),
    width: r.getBoundingClientRect().width, height: r.getBoundingClientRect().height})),
})"""


@pytest.mark.slow
def test_the_page_renders_in_chromium_with_the_stores_numbers(tmp_path: Path) -> None:
    """Given a batch in a folder, its page loads in headless Chromium with no console error and
    no request beyond itself; the four charts draw the records' counts; the screenshot shows
    the bars."""
    records = make_records(300)
    write(FileStore(tmp_path / "results"), records)
    page = tmp_path / "report.html"
    page.write_text(render_html(build(FileStore(tmp_path / "results"), BATCH)))
    visit = open_page(page.as_uri(), PAGE_NUMBERS, tmp_path / "profile")
    assert visit.errors == []
    assert visit.requests == [page.as_uri()]
    shown, want = json.loads(visit.value), expected(records)
    fields = shown["fields"]
    assert (fields["records"], fields["ok"]) == (str(want["records"]), str(want["ok"]))
    bars: dict[str, dict[str, int]] = {}
    for bar in shown["bars"]:
        bars.setdefault(bar["chart"], {})[bar["name"]] = bar["count"]
        assert bar["count"] == 0 or bar["width"] > 0 < bar["height"]  # drawn, not just listed
    assert bars["chart-labels"] == dict(want["labels"])
    assert bars["chart-errors"] == dict(want["errors"])
    assert list(bars["chart-scores"].values()) == want["bins"]
    assert sum(bars["chart-completions"].values()) == want["records"]
    width, height, rows = png_pixels(visit.png)
    assert len(rows) == height > 0
    step = 3 if len(rows[0]) == width * 3 else 4
    pixels = Counter(bytes(row[i : i + 3]) for row in rows[::4] for i in range(0, len(row), step))
    bar_share = pixels[bytes((0x3B, 0x73, 0xB9))] / sum(pixels.values())
    assert bar_share > 0.02, f"the bars' colour covers {bar_share:.2%} of the screenshot"
    assert len(pixels) > 10  # text, axes and bars, not a blank page


@pytest.mark.slow
def test_memory_stays_flat_on_a_100k_record_batch(tmp_path: Path, redis_url: str) -> None:
    """Given 1,000 and then 100,000 records in a folder, the report's peak RSS grows by less
    than MEMORY_SLACK: the records are streamed, never held."""
    env = {"EARMARK_BROKER_URL": redis_url}
    peaks, varied = {}, make_records(1_000)
    for n in (1_000, 100_000):
        folder = tmp_path / f"r{n}"
        store = FileStore(folder)
        for start in range(0, n, 5_000):
            # Copies of 1,000 varied records under fresh job ids: generating is the slow part.
            chunk = [
                varied[i % 1_000].model_copy(update={"job_id": f"{BATCH}:{i}"})
                for i in range(start, min(n, start + 5_000))
            ]
            store.put_chunk(BATCH, str(start), chunk)
        peaks[n], data = _peak_rss(
            {**env, "EARMARK_RESULTS_URL": folder.as_uri()}, "report", BATCH, "--json"
        )
        assert data["totals"]["records"] == n
    assert peaks[100_000] - peaks[1_000] < MEMORY_SLACK, peaks


def _peak_rss(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    """Run `earmark ARGS`; its peak resident memory in bytes (Linux counts KiB) and its JSON."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("EARMARK_", "AWS_"))}
    with subprocess.Popen(
        [sys.executable, "-m", "producer.cli", *args],
        env={**clean, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as process:
        assert process.stdout is not None
        out = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0
    return usage.ru_maxrss * 1024, json.loads(out)


@pytest.mark.worker
def test_a_real_worker_runs_report_equals_its_results(
    redis_url: str,
    redis_client: Any,
    tmp_path: Path,
    workers: list[Any],
) -> None:
    """Given a worker that labels 4 clips and fails 1, `earmark report` counts what `earmark
    results` lists; `enqueue --wait` off a terminal said its progress in plain lines."""
    env = worker_env(redis_url, (tmp_path / "results").as_uri())
    workers.append(start_worker(env, tmp_path / "worker.log", "--concurrency", "1"))
    workers[0].wait_ready()
    refs = [*sorted(str(p) for p in GOLDEN_AUDIO.glob("*.wav"))[:4], str(GOLDEN_AUDIO / "no.wav")]
    done = run_earmark(env, "enqueue", *refs, "--batch-id", "real", "--wait", "--timeout", "120")
    assert done.returncode == 1, done.stderr  # one reference is missing
    assert "earmark: batch real: 5/5 done, 1 failed, 0 pending" in done.stderr
    report = run_earmark(env, "report", "real")
    assert report.returncode == 0, report.stderr
    assert "records  5  (ok 4, error 1)" in report.stdout
    assert "ledger   total 5, done 5, failed 1, pending 0" in report.stdout
    listed = list(FileStore(tmp_path / "results").iter_batch("real"))
    data: dict[str, Any] = build(FileStore(tmp_path / "results"), "real")
    assert data["totals"]["records"] == len(listed) == 5
    assert data["labels"] == dict(Counter(r.labels[0].label for r in listed if r.labels))
    assert {code: e["count"] for code, e in data["errors"].items()} == {"not_found": 1}
    assert data["timings"]["infer_s"]["count"] == 4
    assert data["throughput"]["seconds"] is not None


def test_a_report_from_a_folder_needs_no_ledger(tmp_path: Path) -> None:
    """Given records in a folder and no Redis answering, the report still comes, without the
    ledger's counters, and says why on stderr."""
    records = make_records(20)
    write(FileStore(tmp_path / "results"), records)
    env = {
        "EARMARK_RESULTS_URL": (tmp_path / "results").as_uri(),
        "EARMARK_BROKER_URL": "redis://127.0.0.1:1/0",  # nothing listens on port 1
    }
    done = run_earmark(env, "report", BATCH, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["totals"]["records"] == 20 and data["totals"]["ledger"] is None
    assert done.stderr.startswith("earmark: report without the ledger's counters")
