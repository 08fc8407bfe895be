"""`earmark report JOB_ID`: one windowed job's timeline as text, JSON and a page of label lanes,
bounded however long the recording; built on timelines written through a real store (a folder),
no worker needed."""

from __future__ import annotations

import json
import random
from bisect import bisect_right
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from producer.records import AudioInfo, ErrorInfo, Label, ResultRecord, WindowSummary
from producer.report.human import clock
from producer.report.lanes import MAX_BARS, MAX_LANES, lay_out
from producer.state.ledger import Ledger
from producer.state.redis import connect
from producer.stores.files import FileStore
from producer.timelines import Segment, Timeline, WindowLabels, merge_segments
from scripts.png import png_pixels
from tests.chromium import open_page
from tests.conftest import Earmark

BATCH = "night-2026-12-04"
LABELS = ["speech", "music", "dog", "car", "<b>bird</b>"]
#: Three hours at a 0.5 s hop, 1 s windows: 21,599 windows.
HOURS_3 = 3 * 3600.0
#: Largest page a 3-hour timeline may make, bytes.
MOST_PAGE_BYTES = 400 * 1024


def make_timeline(duration_s: float, seed: int = 5, mean_run: float = 2.0) -> Timeline:
    """Windows of 1 s every 0.5 s over `duration_s`, their top labels in runs of `mean_run`
    windows on average, scores under 0.4 (below the 0.4 threshold: gaps) now and then."""
    rng, windows, hop = random.Random(seed), [], 0.5
    label, count = LABELS[0], int((duration_s - 1.0) / hop) + 1
    for i in range(count):
        if rng.random() < 1 / mean_run:
            label = rng.choices(LABELS, weights=[8, 4, 2, 1, 1])[0]
        score = rng.uniform(0.3, 1.0)
        labels = [Label(label=label, score=score), Label(label="_other_", score=score / 4)]
        windows.append(WindowLabels(start_s=i * hop, end_s=i * hop + 1.0, labels=labels))
    return Timeline(windows=windows, segments=merge_segments(windows, 0.4))


def write_job(
    store: FileStore, index: int, timeline: Timeline | None, duration_s: float, **update: Any
) -> str:
    """A windowed job's record (and its timeline, when given) written as a worker would."""
    job_id = f"{BATCH}:{index}"
    windows = WindowSummary(
        window_s=1.0,
        hop_s=0.5,
        aggregate="mean",
        count=len(timeline.windows) if timeline else 0,
        timeline=timeline is not None,
        segments=len(timeline.segments) if timeline else None,
    )
    fields: dict[str, Any] = {
        "job_id": job_id,
        "batch_id": BATCH,
        "input": f"s3://audio/{index}.flac",
        "status": "ok",
        "labels": [Label(label="speech", score=0.8)],
        "windows": windows,
        "audio": AudioInfo(duration_s=duration_s, sample_rate=16_000, channels=1),
    }
    record = ResultRecord(**{**fields, **update})
    if timeline is not None:
        store.put_timelines([(job_id, timeline)])
    store.put(record)
    return job_id


def env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    return {"EARMARK_RESULTS_URL": (tmp_path / "r").as_uri(), "EARMARK_BROKER_URL": redis_url}


def test_a_long_timeline_draws_at_most_max_bars_joining_the_shortest_gaps() -> None:
    """Given 3 hours of choppy labels (thousands of segments), the chart draws at most MAX_BARS
    bars, each within one lane and covering only its own label's segments, every segment
    inside a bar; a short timeline draws every segment as its own bar."""
    segments = make_timeline(HOURS_3).segments
    assert len(segments) > 3 * MAX_BARS
    lanes = lay_out(segments)
    assert len(lanes.bars) <= MAX_BARS and lanes.joined_s is not None
    assert sorted(lanes.labels) == sorted(LABELS) and lanes.left_out == []
    assert sum(bar.segments for bar in lanes.bars) == len(segments)
    starts = {label: [b for b in lanes.bars if b.label == label] for label in LABELS}
    for segment in segments:
        bars = starts[segment.label]
        bar = bars[bisect_right([b.start_s for b in bars], segment.start_s) - 1]
        assert bar.start_s <= segment.start_s < segment.end_s <= bar.end_s
    short = make_timeline(60.0).segments
    assert len(lay_out(short).bars) == len(short)
    assert lay_out(short).joined_s is None


def test_labels_past_the_lanes_are_left_out_and_said() -> None:
    """Given more labels than MAX_LANES, the chart draws the most labelled ones only."""
    segments = [
        Segment(label=f"l{i}", start_s=float(i), end_s=i + 1.0 + i / 100, score=0.5)
        for i in range(MAX_LANES + 5)
    ]
    lanes = lay_out(segments)
    assert len(lanes.labels) == MAX_LANES and len(lanes.left_out) == 5
    assert set(lanes.left_out) == {f"l{i}" for i in range(5)}  # the shortest


def test_clock_positions() -> None:
    assert [clock(s) for s in (0, 2.5, 61, 3600, 10_799.5)] == [
        "0:00",
        "0:02.5",
        "1:01",
        "1:00:00",
        "2:59:59.5",
    ]


def test_report_job_prints_its_segments_per_label(
    earmark: Earmark, tmp_path: Path, redis_url: str, redis_client: Any
) -> None:
    """Given a 10-minute windowed job with a timeline in a folder, `earmark report JOB --json`
    counts its segments and labelled seconds per label as the timeline does; the text says
    the same in human units, the label escaped where a terminal would act on it."""
    timeline = make_timeline(600.0)
    job_id = write_job(FileStore(tmp_path / "r"), 3, timeline, 600.0)
    done = earmark("report", job_id, "--json", **env(tmp_path, redis_url))
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    counts = Counter(s.label for s in timeline.segments)
    seconds: dict[str, float] = {}
    for s in timeline.segments:
        seconds[s.label] = seconds.get(s.label, 0.0) + s.end_s - s.start_s
    assert {k: v["segments"] for k, v in data["labels"].items()} == dict(counts)
    assert {k: v["seconds"] for k, v in data["labels"].items()} == pytest.approx(dict(seconds))
    assert list(data["labels"]) == sorted(seconds, key=lambda k: -seconds[k])
    assert data["segments"] == len(timeline.segments) and data["duration_s"] == 600.0
    assert data["window"] == {
        "window_s": 1.0,
        "hop_s": 0.5,
        "aggregate": "mean",
        "count": len(timeline.windows),
        "auto": False,
    }
    assert 0 < data["labelled_s"] <= 600.0
    text = earmark("report", job_id, **env(tmp_path, redis_url))
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"job {job_id}  s3://audio/3.flac\n  audio     10 min in 1,199")
    top = max(seconds, key=lambda k: seconds[k])
    assert any(line.split()[:2] == [top, f"{counts[top]:,}"] for line in text.stdout.splitlines())


@pytest.mark.parametrize(
    ("update", "timeline", "why"),
    [
        ({"windows": None}, False, "was not windowed (enqueue --window S --timeline)"),
        ({}, False, "asked for no timeline (enqueue --window S --timeline)"),
        (
            {"status": "error", "labels": None, "error": ErrorInfo(code="too_large", message="x")},
            False,
            "failed (too_large)",
        ),
        ({}, "lost", "has none left in the results store (expired or deleted)"),
    ],
)
def test_a_job_without_a_timeline_exits_1_saying_why(
    earmark: Earmark,
    tmp_path: Path,
    redis_url: str,
    redis_client: Any,
    update: dict[str, Any],
    timeline: bool | str,
    why: str,
) -> None:
    store = FileStore(tmp_path / "r")
    kept = make_timeline(30.0) if timeline == "lost" else None
    job_id = write_job(store, 0, kept, 30.0, **update)
    if timeline == "lost":
        next((tmp_path / "r").rglob("*.jsonl")).unlink()
    page = tmp_path / "job.html"
    done = earmark("report", job_id, "--html", str(page), **env(tmp_path, redis_url))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"earmark: no timeline for {job_id}: it {why}\n"
    assert not page.exists()


def test_an_unknown_job_exits_5_and_one_not_in_yet_exits_1(
    earmark: Earmark, tmp_path: Path, redis_url: str, redis_client: Any
) -> None:
    """A job of an unknown batch, or past its batch's reserved jobs, is exit 5; a reserved
    job with no record yet is exit 1, "has not finished yet"."""
    write_job(FileStore(tmp_path / "r"), 0, make_timeline(30.0), 30.0)
    Ledger(connect(redis_url)).reserve(BATCH, 3)
    for job_id in ("nobody:0", f"{BATCH}:7"):
        done = earmark("report", job_id, **env(tmp_path, redis_url))
        assert done.returncode == 5, done.stderr
        assert "nothing is known under that job id" in done.stderr
    pending = earmark("report", f"{BATCH}:2", **env(tmp_path, redis_url))
    assert pending.returncode == 1
    assert pending.stderr == f"earmark: no timeline for {BATCH}:2: it has not finished yet\n"
    assert earmark("report", f"{BATCH}:x", **env(tmp_path, redis_url)).returncode == 2


#: Run in the page: the lanes, their bars and whether anything lies outside what is shown.
PAGE_LANES = """JSON.stringify((() => {
  const svg = document.getElementById('chart-timeline'), box = svg.getBoundingClientRect();
  const inside = r => r.width > 0 && r.height > 0 && r.left >= box.left - 0.5 &&
    r.right <= box.right + 0.5 && r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5;
  const lanes = [...svg.querySelectorAll('g.lane')];
  return {
    lanes: lanes.map(g => ({label: g.dataset.label, bars: g.querySelectorAll('rect.seg').length,
      named: g.querySelector('text').getBoundingClientRect().left >= 0})),
    outside: [...svg.querySelectorAll('rect, text')].filter(e => !inside(
      e.getBoundingClientRect())).map(e => e.outerHTML.slice(0, 120)),
    wide: document.documentElement.scrollWidth > window.innerWidth,
    note: document.getElementById('timeline-note').textContent,
  };
})())"""


def test_the_page_of_a_3_hour_timeline_renders_its_lanes_in_chromium(
    earmark: Earmark, tmp_path: Path, redis_url: str, redis_client: Any
) -> None:
    """Given a 3-hour job with thousands of segments, `report JOB --html` writes a page under
    MOST_PAGE_BYTES that loads in headless Chromium with no error and no request beyond
    itself: one lane per label, at most MAX_BARS bars, nothing outside the chart or the
    window, the escaped label shown as text; the screenshot shows the bars' colour."""
    timeline = make_timeline(HOURS_3)
    job_id = write_job(FileStore(tmp_path / "r"), 5, timeline, HOURS_3)
    page = tmp_path / "job.html"
    done = earmark("report", job_id, "--html", str(page), **env(tmp_path, redis_url))
    assert done.returncode == 0, done.stderr
    html = page.read_text()
    assert len(html.encode()) < MOST_PAGE_BYTES and "<b>bird" not in html
    visit = open_page(page.as_uri(), PAGE_LANES, tmp_path / "profile")
    assert visit.errors == [] and visit.requests == [page.as_uri()]
    shown = json.loads(visit.value)
    assert sorted(lane["label"] for lane in shown["lanes"]) == sorted(LABELS)
    assert all(lane["bars"] > 0 and lane["named"] for lane in shown["lanes"])
    assert sum(lane["bars"] for lane in shown["lanes"]) <= MAX_BARS
    assert shown["outside"] == [] and shown["wide"] is False
    assert f"at most {MAX_BARS:,} bars" in shown["note"]
    width, _, rows = png_pixels(visit.png)
    step = 3 if len(rows[0]) == width * 3 else 4
    pixels = Counter(bytes(row[i : i + 3]) for row in rows[::4] for i in range(0, len(row), step))
    blue = sum(n for rgb, n in pixels.items() if rgb[2] > rgb[0] + 60)  # the bars, any opacity
    assert blue / sum(pixels.values()) > 0.02
