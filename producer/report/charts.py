"""Inline SVG bar charts: no script, no font or stylesheet fetched, readable without a network.

Every bar is a ``<rect class="bar">`` carrying ``data-name`` and ``data-count``, and a
``<title>`` the browser shows on hover, so that a test (or a curious reader) can check the
numbers a chart draws.
"""

from __future__ import annotations

from html import escape

#: Drawing width of every chart, SVG user units (pixels at 100 %).
WIDTH = 720
#: Height of one row of a horizontal chart.
ROW = 22
#: Width kept for the names left of horizontal bars.
GUTTER = 180
#: Height of the plot area of a column chart.
PLOT = 180


def bar_chart(chart_id: str, title: str, items: list[tuple[str, int]]) -> str:
    """Horizontal bars, one row per (name, count), longest = the largest count."""
    most = max((count for _, count in items), default=0) or 1
    span = WIDTH - GUTTER - 70
    rows = []
    for i, (name, count) in enumerate(items):
        y, length = i * ROW, span * count / most
        rows.append(
            f'<text x="{GUTTER - 6}" y="{y + 15}" text-anchor="end">{escape(name)}</text>'
            f'<rect class="bar" x="{GUTTER}" y="{y + 3}" width="{length:.1f}" height="{ROW - 6}"'
            f' data-name="{escape(name)}" data-count="{count}">'
            f"<title>{escape(name)}: {count}</title></rect>"
            f'<text x="{GUTTER + length + 6:.1f}" y="{y + 15}">{count}</text>'
        )
    height = max(ROW, ROW * len(items))
    return _svg(chart_id, title, height, "".join(rows))


def column_chart(
    chart_id: str, title: str, items: list[tuple[str, int]], first: str = "", last: str = ""
) -> str:
    """Vertical columns, one per (name, count) in order; `first`/`last` label the x axis ends."""
    most = max((count for _, count in items), default=0) or 1
    step = WIDTH / max(1, len(items))
    columns = []
    for i, (name, count) in enumerate(items):
        tall = PLOT * count / most
        columns.append(
            f'<rect class="bar" x="{i * step + 1:.1f}" y="{PLOT - tall:.1f}"'
            f' width="{max(1.0, step - 2):.1f}" height="{tall:.1f}"'
            f' data-name="{escape(name)}" data-count="{count}">'
            f"<title>{escape(name)}: {count}</title></rect>"
        )
    axis = (
        f'<line x1="0" y1="{PLOT}" x2="{WIDTH}" y2="{PLOT}" class="axis"/>'
        f'<text x="0" y="{PLOT + 16}">{escape(first)}</text>'
        f'<text x="{WIDTH}" y="{PLOT + 16}" text-anchor="end">{escape(last)}</text>'
        f'<text x="0" y="12" class="peak">max {most}</text>'
    )
    return _svg(chart_id, title, PLOT + 22, "".join(columns) + axis)


def _svg(chart_id: str, title: str, height: int, body: str) -> str:
    return (
        f"<figure><figcaption>{escape(title)}</figcaption>"
        f'<svg id="{chart_id}" class="chart" role="img" aria-label="{escape(title)}"'
        f' viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}"'
        f' xmlns="http://www.w3.org/2000/svg">{body}</svg></figure>'
    )
