"""One windowed job's report: its timeline's segments per label, as data, text or a page.

``earmark report JOB_ID`` reads the job's record and its timeline (`producer.timelines`) from the
results store: the data counts segments and labelled seconds per label (:func:`job_data`), the
text prints them, and the page draws the segments as label lanes over time
(`producer.report.lanes`, bounded however long the recording) above the same table.
"""

from __future__ import annotations

from html import escape
from typing import Any

from producer.records import ResultRecord
from producer.report import human
from producer.report.lanes import MAX_BARS, Lanes, lane_chart, lay_out
from producer.report.page import document
from producer.report.text import printable
from producer.stores import ResultsStore
from producer.timelines import Segment, Timeline


def load(store: ResultsStore, job_id: str) -> tuple[ResultRecord | None, Timeline | None]:
    """The job's record (None when not in yet) and its timeline (None without one)."""
    record = store.get(job_id)
    kept = record is not None and record.has_timeline
    return record, store.get_timeline(job_id) if kept else None


def job_data(record: ResultRecord, timeline: Timeline) -> dict[str, Any]:
    """The job's report as JSON-ready data: its windows, and per label (most labelled seconds
    first) its segments, their seconds and their mean score weighted by length."""
    assert record.windows is not None
    per: dict[str, list[float]] = {}
    for segment in timeline.segments:
        seconds = segment.end_s - segment.start_s
        count, total, weighted = per.setdefault(segment.label, [0, 0.0, 0.0])
        per[segment.label] = [count + 1, total + seconds, weighted + segment.score * seconds]
    labels = {
        label: {
            "segments": int(count),
            "seconds": round(total, 3),
            "score": round(weighted / total, 4) if total > 0 else None,
        }
        for label, (count, total, weighted) in sorted(per.items(), key=lambda kv: -kv[1][1])
    }
    return {
        "job_id": record.job_id,
        "input": record.input,
        "duration_s": round(duration(record, timeline), 3),
        "window": record.windows.model_dump(exclude={"timeline", "segments"}),
        "segments": len(timeline.segments),
        "labelled_s": round(_covered(timeline.segments), 3),
        "labels": labels,
    }


def duration(record: ResultRecord, timeline: Timeline) -> float:
    """The recording's length: the decoded audio's, or the timeline's end if that is later."""
    ends = [window.end_s for window in timeline.windows[-1:]]
    ends += [segment.end_s for segment in timeline.segments]
    return max([record.audio.duration_s if record.audio else 0.0, *ends])


def _covered(segments: list[Segment]) -> float:
    """Seconds inside at least one segment (overlapping windows make neighbours overlap)."""
    covered, end = 0.0, float("-inf")
    for segment in sorted(segments, key=lambda s: s.start_s):
        start = max(segment.start_s, end)
        if segment.end_s > start:
            covered += segment.end_s - start
        end = max(end, segment.end_s)
    return covered


def render_job_text(data: dict[str, Any]) -> str:
    """The job's report as lines of text: its windows, then each label's segments."""
    labels = data["labels"]
    lines = [
        f"job {data['job_id']}  {printable(data['input'])}",
        f"  audio     {_lead(data)}",
        f"  segments  {human.count(data['segments'])} over {human.count(len(labels))} labels,"
        f" {human.duration(data['labelled_s'])} labelled",
    ]
    if not labels:
        return "\n".join([*lines, "  no segment: no window's top label counted"]) + "\n"
    widest = max(len("label"), *(len(printable(label)) for label in labels))
    lines.append(f"  {'label':<{widest}}  {'segments':>8}  {'labelled':>12}  {'score':>5}")
    for label, entry in labels.items():
        lines.append(
            f"  {printable(label):<{widest}}  {human.count(entry['segments']):>8}"
            f"  {human.duration(entry['seconds']):>12}  {human.score(entry['score']):>5}"
        )
    return "\n".join(lines) + "\n"


def _windows(window: dict[str, Any]) -> str:
    """``21,599 windows of 1 s every 500 ms (mean)``, and who chose them."""
    chosen = ", cut automatically" if window["auto"] else ""
    return (
        f"{human.count(window['count'])} windows of {human.duration(window['window_s'])}"
        f" every {human.duration(window['hop_s'])} ({window['aggregate']}{chosen})"
    )


def render_job_html(data: dict[str, Any], segments: list[Segment]) -> str:
    """The job's report as one page: its segments as label lanes, then the table per label."""
    job = escape(data["job_id"] or "")
    lanes = lay_out(segments)
    body = "".join(
        [
            f"<h1>earmark report: job <code>{job}</code></h1>",
            f'<p class="lead"><code>{escape(data["input"])}</code>: {escape(_lead(data))}.</p>',
            _cards(data),
            "<h2>Timeline</h2>",
            _timeline(lanes, data["duration_s"]) if segments else _NO_SEGMENTS,
            "<h2>Labels</h2>",
            _table(data["labels"]) if segments else "",
        ]
    )
    return document(f"earmark report {data['job_id']}", body, data)


def _lead(data: dict[str, Any]) -> str:
    return f"{human.duration(data['duration_s'])} in {_windows(data['window'])}"


def _cards(data: dict[str, Any]) -> str:
    cards = [
        ("duration", "of audio", human.duration(data["duration_s"])),
        ("windows", "windows", human.count(data["window"]["count"])),
        ("segments", "segments", human.count(data["segments"])),
        ("labels", "labels", human.count(len(data["labels"]))),
        ("labelled", "labelled", human.duration(data["labelled_s"])),
    ]
    shown = "".join(
        f'<div><b data-field="{field}">{escape(value)}</b><span>{escape(name)}</span></div>'
        for field, name, value in cards
    )
    return f'<div class="cards" id="totals">{shown}</div>'


def _timeline(lanes: Lanes, duration_s: float) -> str:
    """The lanes chart and what it left out or joined."""
    chart = lane_chart("chart-timeline", "segments per label over time", lanes, duration_s)
    said = ["Each bar is a segment; the darker, the higher its score (hover for it)."]
    if lanes.joined_s is not None:
        said.append(
            f"To draw at most {human.count(MAX_BARS)} bars, segments of a label at most"
            f" {human.duration(lanes.joined_s)} apart are drawn as one bar"
            f" ({human.count(len(lanes.bars))} bars)."
        )
    if lanes.left_out:
        said.append(
            f"{human.count(len(lanes.left_out))} labels with the fewest labelled seconds"
            " have no lane; the table lists them."
        )
    return chart + f'<p class="muted" id="timeline-note">{escape(" ".join(said))}</p>'


def _table(labels: dict[str, Any]) -> str:
    head = "<tr><th>label</th><th>segments</th><th>labelled</th><th>score</th></tr>"
    rows = "".join(
        f"<tr><td>{escape(label)}</td><td>{human.count(entry['segments'])}</td>"
        f"<td>{escape(human.duration(entry['seconds']))}</td>"
        f"<td>{human.score(entry['score'])}</td></tr>"
        for label, entry in labels.items()
    )
    return f'<table id="labels">{head}{rows}</table>'


#: What the page says in place of the chart when no window's top label counted.
_NO_SEGMENTS = '<p class="empty">No segments: no window\'s top label counted.</p>'
