"""The report as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched.

Every string the page prints is escaped (references, labels and messages come from records,
which come from whoever queued the batch). The page (and a job's, `producer.report.job`) also
carries the report's data as JSON (``<script type="application/json" id="report-data">``, never
executed, with every ``<`` written ``\\u003c``), so a reader can take the numbers from it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from html import escape
from typing import Any

from producer.report import human
from producer.report.charts import Axes, bar_chart, column_chart
from producer.report.sketch import wider

#: The x axis of the completions chart has room for at least this many bars, so that a batch
#: that finished within a second or two is a narrow bar, not a wall.
MIN_SLOTS = 12
#: Most labelled ticks on the completions chart's x axis.
MAX_TICKS = 7

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1000px; color: #222;
  padding: 0 1em; }
h1 { font-size: 1.4em; margin-bottom: .2em; } h2 { font-size: 1.15em; margin: 1.6em 0 .4em;
  border-bottom: 1px solid #ddd; } h3 { font-size: 1em; margin: 1em 0 .3em; }
table { border-collapse: collapse; } td, th { padding: 1px 10px; text-align: right;
  vertical-align: top; } td:first-child, th:first-child { text-align: left; padding-left: 0; }
table.refs { width: 100%; } table.refs td, table.refs th { text-align: left; }
table.refs td.ref { width: 40%; } table.refs .num { text-align: right; }
table.refs td.num, table.refs td.code { white-space: nowrap; }
table.refs tr:nth-child(even) td { background: #f6f7f9; } td.job { white-space: nowrap; }
code { font-size: 12px; overflow-wrap: anywhere; } .job code { color: #666; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; margin: 1em 0; }
.cards div { border: 1px solid #ddd; border-radius: 6px; padding: 4px 12px; }
.cards b { display: block; font-size: 1.25em; } .cards span { color: #666; font-size: 12px; }
figure { margin: .6em 0; } figcaption { font-weight: 600; margin-bottom: .3em; }
svg.chart { max-width: 100%; height: auto; }
svg.chart text { font-size: 12px; fill: #333; } svg.chart .bar { fill: #3b73b9; }
svg.chart .axis { stroke: #999; } svg.chart .grid { stroke: #eee; }
svg.chart .axis-title { fill: #666; } svg.chart .seg { fill: #3b73b9; }
svg.chart .track { fill: #f3f4f6; } .muted, .lead { color: #666; } .empty { font-style: italic; }
"""


def render_html(data: dict[str, Any]) -> str:
    """The report of :meth:`Summary.data` as one HTML page."""
    batch = escape(data["batch_id"])
    body = "".join(
        [
            f"<h1>earmark report: batch <code>{batch}</code></h1>",
            _lead(data["totals"], data["throughput"]),
            _totals(data["totals"], data["throughput"], data["windowed"]),
            _SEE_MORE if data["totals"]["records"] else "",
            "<h2>Errors</h2>",
            _errors(data["errors"]),
            _listed(data, "failed"),
            "<h2>Top-1 labels</h2>",
            _labels(data["labels"]),
            "<h2>Scores</h2>",
            _scores(data["scores"]),
            _listed(data, "lowest_scores"),
            "<h2>Completions over time</h2>",
            _completions(data["completions"]),
            "<h2>Timings</h2>",
            _timings(data["timings"], data["percentiles"]),
            _listed(data, "slowest_fetches"),
        ]
    )
    return document(f"earmark report {data['batch_id']}", body, data)


def document(title: str, body: str, data: dict[str, Any]) -> str:
    """A whole page: `title` (escaped here), `body` (HTML, escaped by its maker), and `data`
    as JSON that no script runs."""
    payload = json.dumps(data).replace("<", "\\u003c")  # no "</script>" can end it early
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f'<body>{body}<script type="application/json" id="report-data">{payload}</script>'
        "</body></html>\n"
    )


def _cell(field: str, value: object) -> str:
    shown = "-" if value is None else escape(str(value))
    return f'<td data-field="{field}">{shown}</td>'


def _empty(sentence: str) -> str:
    return f'<p class="empty">{escape(sentence)}</p>'


def _lead(totals: dict[str, Any], throughput: dict[str, Any]) -> str:
    """One sentence: how many, how many failed, when and how fast."""
    if not totals["records"]:
        return '<p class="lead">No records.</p>'
    said = f"{human.count(totals['records'])} records, {human.count(totals['error'])} failed"
    if throughput["seconds"] is not None:
        span = human.between(throughput["first_enqueued"], throughput["last_finished"])
        said += f", {span}"
    return f'<p class="lead">{escape(said)}.</p>'


def _totals(totals: dict[str, Any], throughput: dict[str, Any], windowed: dict[str, Any]) -> str:
    """The counts and times at a glance, one card each (windowed jobs only when there are)."""
    cards = [
        ("records", "records", human.count(totals["records"])),
        ("ok", "ok", human.count(totals["ok"])),
        ("error", "failed", human.count(totals["error"])),
        ("seconds", "took", human.duration(throughput["seconds"])),
        ("clips-per-s", "rate", human.rate(throughput["clips_per_s"])),
    ]
    ledger = totals["ledger"]
    if ledger is not None:
        pending = "unknown" if ledger["pending"] is None else human.count(ledger["pending"])
        cards.append(("ledger-pending", "pending in the ledger", pending))
    if windowed["jobs"]:
        cards.append(("windowed-jobs", "windowed jobs", human.count(windowed["jobs"])))
        cards.append(("windowed-audio", "windowed audio", human.duration(windowed["audio_s"])))
    shown = "".join(
        f'<div><b data-field="{field}">{escape(value)}</b><span>{escape(name)}</span></div>'
        for field, name, value in cards
    )
    return f'<div class="cards" id="totals">{shown}</div>'


def _labels(labels: dict[str, int]) -> str:
    if not labels:
        return _empty("No labels: no record finished ok.")
    return bar_chart("chart-labels", "records per top-1 label", list(labels.items()))


def _scores(scores: dict[str, Any]) -> str:
    if not scores["count"]:
        return _empty("No scores: no record has labels.")
    counts = scores["histogram"]["counts"]
    step = 1 / len(counts)
    bins = [(f"{i * step:.2f}-{(i + 1) * step:.2f}", c) for i, c in enumerate(counts)]
    ticks = [(i * len(counts) / 4, f"{i / 4:g}") for i in range(5)]
    axes = Axes("top-1 score", "records", ticks)
    stats = "".join(_cell(f"score-{k}", human.score(scores[k])) for k in ("mean", "p50", "p95"))
    return (
        column_chart("chart-scores", "top-1 score histogram", bins, axes)
        + "<table><tr><th></th><th>mean</th><th>p50</th><th>p95</th></tr>"
        f"<tr><th>top-1 score</th>{stats}</tr></table>"
    )


def _errors(errors: dict[str, Any]) -> str:
    if not errors:
        return _empty("No errors.")
    items = [(code, entry["count"]) for code, entry in errors.items()]
    rows = "".join(
        f'<tr><td data-field="error-code">{escape(code)}</td>{_ref(first)}{_message(first)}</tr>'
        for code, entry in errors.items()
        for first in entry["examples"][:1]
    )
    head = f"<tr><th>code</th>{_REF_HEAD}<th>message</th></tr>"
    return (
        bar_chart("chart-errors", "failed records per error code", items)
        + "<h3>An example of each code</h3>"
        + f'<table class="refs" id="error-examples">{head}{rows}</table>'
    )


def _completions(completions: dict[str, Any]) -> str:
    counts, width = completions["counts"], completions["bucket_s"]
    if not counts:
        return _empty("No completions: no record says when it finished.")
    slots = max(len(counts), MIN_SLOTS)
    tick = width
    while slots * width / tick > MAX_TICKS:
        tick = wider(tick)
    ticks = [(k * tick / width, human.duration(k * tick)) for k in range(slots * width // tick + 1)]
    start = human.stamp(completions["start"])
    axes = Axes(f"time since {start}", f"records per {human.duration(width)}", ticks, slots)
    items = [(f"+{human.duration(i * width)}", count) for i, count in enumerate(counts)]
    title = f"records finished per {human.duration(width)}"
    end = human.between(completions["start"], _later(completions["start"], len(counts) * width))
    said = f"Each bar counts the records that finished in its {human.duration(width)}, {end}."
    return column_chart("chart-completions", title, items, axes) + f'<p class="muted">{said}</p>'


def _later(iso: str, seconds: int) -> str:
    """The UTC stamp `seconds` after `iso`."""
    later = datetime.fromisoformat(iso.replace("Z", "+00:00")) + timedelta(seconds=seconds)
    return later.strftime("%Y-%m-%dT%H:%M:%SZ")


def _timings(timings: dict[str, Any], method: str) -> str:
    measured = {name: stats for name, stats in timings.items() if stats["count"]}
    if not measured:
        return _empty("No timings: no record timed a stage.")
    rows = "".join(
        f"<tr><th>{escape(name)}</th>{_cell(f'{name}-count', human.count(stats['count']))}"
        + "".join(_cell(f"{name}-{k}", human.duration(stats[k])) for k in ("p50", "p95", "max"))
        + "</tr>"
        for name, stats in measured.items()
    )
    head = "<tr><th>stage</th><th>count</th><th>p50</th><th>p95</th><th>max</th></tr>"
    return f'<table id="timings">{head}{rows}</table><p class="muted">Percentiles: {method}.</p>'


def _ref(entry: dict[str, Any]) -> str:
    """A reference, once, and the job whose record ``earmark results JOB`` prints."""
    job = "" if entry["job_id"] is None else f"<code>{escape(entry['job_id'])}</code>"
    return f'<td class="ref"><code>{escape(entry["input"])}</code></td><td class="job">{job}</td>'


def _message(entry: dict[str, Any]) -> str:
    """An error's message, without the reference its row already shows."""
    return f"<td>{escape(human.message(entry['message'], entry['input']))}</td>"


#: The heads of a reference's two cells.
_REF_HEAD = "<th>reference</th><th>job</th>"
#: Said once, under the totals: how to see more than the page shows.
_SEE_MORE = (
    '<p class="muted">Every reference below names its job: <code>earmark results JOB</code>'
    " prints that job's record in full. A list cut short ends with the command that prints"
    " all of it.</p>"
)
#: Each list's heading, its order, the heads of its other cells, and what it says when there
#: is nothing to list (None: the section above has said it).
_LISTS = {
    "failed": ("Failed references", "in job order", ("code", "message"), None),
    "lowest_scores": ("Lowest top-1 scores", "lowest first", ("label", "score:num"), None),
    "slowest_fetches": ("Slowest fetches", "slowest first", ("fetch:num",), "No fetch timings."),
}


def _listed(data: dict[str, Any], kind: str) -> str:
    """One of the report's lists: each reference once, with what makes it listed."""
    listed, (title, order, heads, none) = data[kind], _LISTS[kind]
    items, total = listed["items"], listed["count"]
    if not items:
        return "" if none is None else f"<h3>{escape(title)}</h3>{_empty(none)}"
    shown = f"all {human.count(total)}" if total == len(items) else f"{len(items)} of {total:,}"
    head = _REF_HEAD + "".join(_head(name) for name in heads)
    rows = f"<tr>{head}</tr>" + "".join(
        f"<tr>{_ref(entry)}{_about(kind, entry)}</tr>" for entry in items
    )
    more = ""
    if total > len(items):
        command = human.see_all(data["batch_id"], kind)
        more = (
            f'<p class="more">and {human.count(total - len(items))} more;'
            f" all of them: <code>{escape(command)}</code></p>"
        )
    return (
        f'<h3>{escape(title)} <span class="muted">({shown}, {order})</span></h3>'
        f'<table class="refs" id="list-{kind}">{rows}</table>{more}'
    )


def _head(name: str) -> str:
    """A column's head; ``NAME:num`` for one of numbers, aligned right."""
    name, _, kind = name.partition(":")
    return f'<th class="{kind}">{name}</th>' if kind else f"<th>{name}</th>"


def _about(kind: str, entry: dict[str, Any]) -> str:
    """The cells after a listed reference: why it is listed."""
    if kind == "failed":
        return f'<td class="code">{escape(entry["code"])}</td>{_message(entry)}'
    if kind == "lowest_scores":
        score = human.score(entry["score"])
        return f'<td>{escape(entry["label"])}</td><td class="num">{score}</td>'
    return f'<td class="num">{escape(human.duration(entry["fetch_s"]))}</td>'
