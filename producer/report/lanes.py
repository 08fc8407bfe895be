"""A timeline's segments as label lanes in inline SVG: one row per label, one bar per segment.

A 3-hour recording at a 0.5 s hop has 21,600 windows and may merge into thousands of segments,
so the chart stays bounded: it draws the MAX_LANES labels with the most labelled seconds and at
most MAX_BARS bars. Past that, the shortest gaps within a lane are joined (every gap up to the
one that brings the count under MAX_BARS): a bar then spans several segments, its score their
mean weighted by length, and the chart says so. Each bar's opacity is its score; its
``<title>`` (shown on hover) gives its label, start, end and score.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from html import escape
from itertools import pairwise

from producer.report import human
from producer.report.charts import GUTTER, NAME_CHARS, ROW, WIDTH, figure
from producer.report.sketch import WIDTHS, wider
from producer.timelines import Segment

#: Most lanes drawn (labels past them are left out of the chart, said under it).
MAX_LANES = 30
#: Most bars drawn, all lanes together (about 125 bytes of page each).
MAX_BARS = 2000
#: Room right of the plot, and below it for the time axis.
RIGHT, BOTTOM = 24, 40
#: Most labelled ticks on the time axis.
MAX_TICKS = 8
#: Opacity of a bar of score 0 (one of score 1 is opaque).
FAINTEST = 0.25


@dataclass(frozen=True)
class Bar:
    """One drawn bar: a segment, or several of one label joined across short gaps."""

    label: str
    start_s: float
    end_s: float
    score: float
    segments: int


@dataclass(frozen=True)
class Lanes:
    """What the chart draws: its lanes (labels, most labelled seconds first), its bars, the
    longest gap joined (None when every segment is its own bar), and the labels left out."""

    labels: list[str]
    bars: list[Bar]
    joined_s: float | None
    left_out: list[str]


def lay_out(
    segments: Sequence[Segment], most_lanes: int = MAX_LANES, most_bars: int = MAX_BARS
) -> Lanes:
    """The lanes and bars of `segments`, at most `most_lanes` and `most_bars` (> most_lanes)."""
    seconds: dict[str, float] = {}
    for segment in segments:
        seconds[segment.label] = seconds.get(segment.label, 0.0) + segment.end_s - segment.start_s
    ranked = sorted(seconds, key=lambda label: -seconds[label])
    labels, left_out = ranked[:most_lanes], ranked[most_lanes:]
    lanes: dict[str, list[Segment]] = {label: [] for label in labels}
    for segment in segments:
        if segment.label in lanes:
            lanes[segment.label].append(segment)
    for lane in lanes.values():
        lane.sort(key=lambda segment: segment.start_s)
    gaps = sorted(b.start_s - a.end_s for lane in lanes.values() for a, b in pairwise(lane))
    excess = sum(len(lane) for lane in lanes.values()) - most_bars
    joined = gaps[min(excess, len(gaps)) - 1] if excess > 0 and gaps else None
    bars = [bar for label in labels for bar in _joined(lanes[label], joined)]
    return Lanes(labels, bars, joined, left_out)


def _joined(lane: Sequence[Segment], gap_s: float | None) -> Iterator[Bar]:
    """A lane's segments as bars, those `gap_s` or less apart joined into one."""
    run: list[Segment] = []
    end = 0.0
    for segment in lane:
        if run and (gap_s is None or segment.start_s - end > gap_s):
            yield _bar(run)
            run = []
        run.append(segment)
        end = max(end, segment.end_s) if len(run) > 1 else segment.end_s
    if run:
        yield _bar(run)


def _bar(run: Sequence[Segment]) -> Bar:
    lengths = [segment.end_s - segment.start_s for segment in run]
    scores = [segment.score for segment in run]
    total = sum(lengths)
    score = (
        sum(s * n for s, n in zip(scores, lengths, strict=True)) / total
        if total > 0
        else sum(scores) / len(scores)
    )
    start, end = run[0].start_s, max(segment.end_s for segment in run)
    return Bar(run[0].label, start, end, score, len(run))


def lane_chart(chart_id: str, title: str, lanes: Lanes, duration_s: float) -> str:
    """The lanes over a time axis from 0 to `duration_s`, one ``<g class="lane">`` each."""
    span = WIDTH - GUTTER - RIGHT
    scale = span / duration_s if duration_s > 0 else 0.0
    rows = {label: i for i, label in enumerate(lanes.labels)}
    drawn: dict[str, list[str]] = {label: [] for label in lanes.labels}
    for bar in lanes.bars:
        drawn[bar.label].append(_rect(bar, rows[bar.label] * ROW, scale))
    parts = []
    for label, i in rows.items():
        short = label if len(label) <= NAME_CHARS else label[: NAME_CHARS - 1] + "…"
        parts.append(
            f'<g class="lane" data-label="{escape(label)}">'
            f'<text x="{GUTTER - 6}" y="{i * ROW + 15}" text-anchor="end">{escape(short)}</text>'
            f'<rect class="track" x="{GUTTER}" y="{i * ROW + 3}" width="{span}"'
            f' height="{ROW - 6}"/>{"".join(drawn[label])}</g>'
        )
    height = max(1, len(rows)) * ROW
    return figure(chart_id, title, height + BOTTOM, "".join(parts) + _axis(height, duration_s))


def _rect(bar: Bar, y: int, scale: float) -> str:
    """One bar, at least a pixel wide, its opacity its score, its title what it stands for."""
    width = max(1.0, (bar.end_s - bar.start_s) * scale)
    opacity = FAINTEST + (1 - FAINTEST) * min(1.0, max(0.0, bar.score))
    joined = f", {bar.segments} segments joined" if bar.segments > 1 else ""
    said = (
        f"{bar.label} {human.clock(bar.start_s)} to {human.clock(bar.end_s)},"
        f" score {human.score(bar.score)}{joined}"
    )
    return (
        f'<rect class="seg" x="{GUTTER + bar.start_s * scale:.1f}" y="{y + 3}"'
        f' width="{width:.1f}" height="{ROW - 6}" fill-opacity="{opacity:.2f}">'
        f"<title>{escape(said)}</title></rect>"
    )


def _axis(top: int, duration_s: float) -> str:
    """The time axis under the lanes: round ticks as clock positions, and its title."""
    span = WIDTH - GUTTER - RIGHT
    tick = WIDTHS[0]
    while duration_s / tick > MAX_TICKS:
        tick = wider(tick)
    parts = [
        f'<line x1="{GUTTER}" y1="{top}" x2="{GUTTER + span}" y2="{top}" class="axis"/>',
        f'<text x="{GUTTER + span / 2:.0f}" y="{top + 34}" text-anchor="middle"'
        f' class="axis-title">time into the recording ({human.duration(duration_s)})</text>',
    ]
    for k in range(int(duration_s // tick) + 1 if duration_s > 0 else 1):
        x = GUTTER + (k * tick / duration_s * span if duration_s > 0 else 0)
        anchor = "start" if k == 0 else "end" if x > GUTTER + span - 30 else "middle"
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + 4}" class="axis"/>'
            f'<text x="{x:.1f}" y="{top + 16}" text-anchor="{anchor}">'
            f"{human.clock(k * tick)}</text>"
        )
    return "".join(parts)
