"""Inline SVG bar charts: no script, no font or stylesheet fetched, readable without a network.

Every bar is a ``<rect class="bar">`` carrying ``data-name`` and ``data-count``, and a
``<title>`` the browser shows on hover, so that a test (or a curious reader) can check the
numbers a chart draws. Everything a chart prints is escaped: names come from records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from producer.report.human import count as shown_count

#: Drawing width of every chart, SVG user units (pixels at 100 %).
WIDTH = 860
#: Height of one row of a horizontal chart.
ROW = 22
#: Width kept for the names left of horizontal bars.
GUTTER = 180
#: Height of the plot area of a column chart.
PLOT = 150
#: Room left of a column chart's plot for the y axis' numbers, and above it for its title.
LEFT, TOP = 56, 22
#: Room below a column chart's plot for the x axis' ticks and title.
BOTTOM = 40
#: Longest name a horizontal chart prints in full, characters.
NAME_CHARS = 26


@dataclass(frozen=True)
class Axes:
    """How a column chart labels itself: ticks on the x axis (position in bars from the left
    edge, text), the x and y axes' titles, and how many bars the x axis has room for."""

    x_title: str
    y_title: str
    ticks: list[tuple[float, str]] = field(default_factory=list)
    slots: int = 0


def bar_chart(chart_id: str, title: str, items: list[tuple[str, int]]) -> str:
    """Horizontal bars, one row per (name, count), longest = the largest count."""
    most = max((count for _, count in items), default=0) or 1
    span = WIDTH - GUTTER - 70
    rows = []
    for i, (name, count) in enumerate(items):
        y, length = i * ROW, span * count / most
        short = name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"
        rows.append(
            f'<text x="{GUTTER - 6}" y="{y + 15}" text-anchor="end">{escape(short)}</text>'
            f'<rect class="bar" x="{GUTTER}" y="{y + 3}" width="{length:.1f}" height="{ROW - 6}"'
            f' data-name="{escape(name)}" data-count="{count}">'
            f"<title>{escape(name)}: {shown_count(count)}</title></rect>"
            f'<text x="{GUTTER + length + 6:.1f}" y="{y + 15}">{shown_count(count)}</text>'
        )
    height = max(ROW, ROW * len(items))
    return figure(chart_id, title, height, "".join(rows))


def column_chart(chart_id: str, title: str, items: list[tuple[str, int]], axes: Axes) -> str:
    """Vertical columns, one per (name, count) in order, over labelled axes."""
    most = max((count for _, count in items), default=0) or 1
    step = (WIDTH - LEFT) / max(1, len(items), axes.slots)
    columns = []
    for i, (name, count) in enumerate(items):
        tall = PLOT * count / most
        columns.append(
            f'<rect class="bar" x="{LEFT + i * step + 1:.1f}" y="{TOP + PLOT - tall:.1f}"'
            f' width="{max(1.0, step - 2):.1f}" height="{tall:.1f}"'
            f' data-name="{escape(name)}" data-count="{count}">'
            f"<title>{escape(name)}: {shown_count(count)}</title></rect>"
        )
    return figure(chart_id, title, TOP + PLOT + BOTTOM, "".join(columns) + _axes(axes, most, step))


def _axes(axes: Axes, most: int, step: float) -> str:
    """The y axis (0 and the largest count), the x axis with its ticks, and both titles."""
    bottom = TOP + PLOT
    parts = [
        f'<text x="0" y="12" class="axis-title">{escape(axes.y_title)}</text>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" class="axis"/>',
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH}" y2="{bottom}" class="axis"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{WIDTH}" y2="{TOP}" class="grid"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">{shown_count(most)}</text>',
        f'<text x="{LEFT - 6}" y="{bottom + 4}" text-anchor="end">0</text>',
        f'<text x="{(LEFT + WIDTH) / 2:.0f}" y="{bottom + 34}" text-anchor="middle"'
        f' class="axis-title">{escape(axes.x_title)}</text>',
    ]
    for at, label in axes.ticks:
        x = LEFT + at * step
        anchor = "start" if at == 0 else "end" if x >= WIDTH - 1 else "middle"
        parts.append(
            f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" class="axis"/>'
            f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="{anchor}">{escape(label)}</text>'
        )
    return "".join(parts)


def figure(chart_id: str, title: str, height: int, body: str) -> str:
    """A captioned SVG chart of WIDTH and `height` around `body`."""
    return (
        f"<figure><figcaption>{escape(title)}</figcaption>"
        f'<svg id="{chart_id}" class="chart" role="img" aria-label="{escape(title)}"'
        f' viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}"'
        f' xmlns="http://www.w3.org/2000/svg">{body}</svg></figure>'
    )
