"""The report as text for a terminal or a log: one section per part, in human units.

References and messages come from records: characters a terminal would act on (escape
sequences, line breaks) are printed as Python writes them in a string (``\\x1b``, ``\\n``).
"""

from __future__ import annotations

from typing import Any

from producer.report import human

#: Width of the longest bar in the label and error counts, characters.
BAR_WIDTH = 30
#: Each list's heading and how it is ordered.
_LISTS = {
    "failed": ("failed references", "in job order"),
    "lowest_scores": ("lowest top-1 scores", "lowest first"),
    "slowest_fetches": ("slowest fetches", "slowest first"),
}


def render_text(data: dict[str, Any]) -> str:
    """The report of :meth:`Summary.data` as lines of text."""
    lines = [f"batch {data['batch_id']}", *_totals(data["totals"], data["throughput"])]
    lines += [*_windowed(data["windowed"]), ""]
    lines += _errors(data["errors"])
    lines += _listed(data, "failed")
    lines += _labels(data["labels"])
    lines += _scores(data["scores"])
    lines += _listed(data, "lowest_scores")
    lines += _timings(data["timings"], data["percentiles"])
    lines += _listed(data, "slowest_fetches")
    return "\n".join(lines).rstrip("\n") + "\n"


def printable(text: str) -> str:
    """`text` with every character a terminal could act on written as an escape."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _totals(totals: dict[str, Any], throughput: dict[str, Any]) -> list[str]:
    lines = [f"  records  {totals['records']}  (ok {totals['ok']}, error {totals['error']})"]
    ledger = totals["ledger"]
    if ledger is not None:
        pending = "unknown" if ledger["pending"] is None else ledger["pending"]
        lines.append(
            f"  ledger   total {ledger['total']}, done {ledger['done']},"
            f" failed {ledger['failed']}, pending {pending}"
        )
    if throughput["seconds"] is None:
        return [*lines, "  timing   no record says when it finished"]
    return [
        *lines,
        f"  from     {human.stamp(throughput['first_enqueued'])}"
        f" to {human.stamp(throughput['last_finished'])}",
        f"  took     {human.duration(throughput['seconds'])}"
        f"  ({human.rate(throughput['clips_per_s'])})",
    ]


def _windowed(windowed: dict[str, Any]) -> list[str]:
    """Jobs cut into windows and their audio; nothing when no job was."""
    if not windowed["jobs"]:
        return []
    kept = windowed["timelines"]
    return [
        f"  windowed {human.count(windowed['jobs'])} jobs,"
        f" {human.duration(windowed['audio_s'])} of audio"
        f" ({human.count(kept)} with a timeline: earmark report JOB_ID draws it)"
    ]


def _bars(title: str, counts: dict[str, int]) -> list[str]:
    widest, most = max(len(printable(name)) for name in counts), max(counts.values())
    lines = [title]
    for name, count in counts.items():
        bar = "#" * max(1, round(BAR_WIDTH * count / most))
        lines.append(f"  {printable(name):<{widest}}  {human.count(count):>8}  {bar}")
    return [*lines, ""]


def _labels(labels: dict[str, int]) -> list[str]:
    if not labels:
        return ["top-1 labels: none (no record finished ok)", ""]
    return _bars("top-1 labels", labels)


def _errors(errors: dict[str, Any]) -> list[str]:
    if not errors:
        return ["No errors.", ""]
    return _bars("errors by code", {code: entry["count"] for code, entry in errors.items()})


def _scores(scores: dict[str, Any]) -> list[str]:
    if not scores["count"]:
        return ["top-1 scores: none (no record has labels)", ""]
    counts = scores["histogram"]["counts"]
    step, most = 1 / len(counts), max(counts)
    stats = ", ".join(f"{k} {human.score(scores[k])}" for k in ("mean", "p50", "p95"))
    lines = [f"top-1 scores  {stats}"]
    for i, count in enumerate(counts):
        if count:
            bar = "#" * max(1, round(BAR_WIDTH * count / most))
            lines.append(f"  {i * step:.2f}-{(i + 1) * step:.2f}  {human.count(count):>8}  {bar}")
    return [*lines, ""]


def _timings(timings: dict[str, Any], method: str) -> list[str]:
    measured = {name: stats for name, stats in timings.items() if stats["count"]}
    if not measured:
        return ["timings: none (no record timed a stage)", ""]
    lines = [f"  {'stage':<10} {'count':>8} {'p50':>10} {'p95':>10} {'max':>10}"]
    for name, stats in measured.items():
        shown = (f"{human.duration(stats[k]):>10}" for k in ("p50", "p95", "max"))
        lines.append(f"  {name:<10} {human.count(stats['count']):>8} {' '.join(shown)}")
    return ["timings", *lines, f"  percentiles: {method}", ""]


def _listed(data: dict[str, Any], kind: str) -> list[str]:
    """One of the report's lists: each reference once, why it is listed, how to see it."""
    listed, (title, order) = data[kind], _LISTS[kind]
    items, total = listed["items"], listed["count"]
    if not items:
        return [] if kind != "slowest_fetches" else [f"{title}: none (no fetch timed)", ""]
    shown = f"all {human.count(total)}" if total == len(items) else f"{len(items)} of {total:,}"
    lines = [f"{title} ({shown}, {order})"]
    widest = max(len(_about(kind, entry)) for entry in items)
    for entry in items:
        see = human.see_one(entry["job_id"])
        ref = printable(entry["input"]) + (f"  ({see})" if see else "")
        if kind == "failed":
            lines += [f"  {ref}", f"      {_about(kind, entry)}"]
        else:
            lines.append(f"  {_about(kind, entry):<{widest}}  {ref}")
    if total > len(items):
        more = human.count(total - len(items))
        lines.append(f"  and {more} more; all of them: {human.see_all(data['batch_id'], kind)}")
    return [*lines, ""]


def _about(kind: str, entry: dict[str, Any]) -> str:
    """Why an entry is listed: its error, its top label and score, or its fetch time."""
    if kind == "failed":
        return printable(f"{entry['code']}: {human.message(entry['message'], entry['input'])}")
    if kind == "lowest_scores":
        return f"{human.score(entry['score'])}  {printable(entry['label'])}"
    return human.duration(entry["fetch_s"])
