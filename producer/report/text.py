"""The report as text for a terminal or a log: one section per part, widest numbers aligned."""

from __future__ import annotations

from typing import Any

#: Width of the longest bar in the label counts, characters.
BAR_WIDTH = 30


def render_text(data: dict[str, Any]) -> str:
    """The report of :meth:`Summary.data` as lines of text."""
    lines = [f"batch {data['batch_id']}", *_totals(data["totals"]), ""]
    lines += _labels(data["labels"])
    lines += _scores(data["scores"])
    lines += _errors(data["errors"])
    lines += _throughput(data["throughput"])
    lines += _timings(data["timings"], data["percentiles"])
    return "\n".join(lines) + "\n"


def _totals(totals: dict[str, Any]) -> list[str]:
    lines = [f"  records  {totals['records']}  (ok {totals['ok']}, error {totals['error']})"]
    ledger = totals["ledger"]
    if ledger is not None:
        pending = "unknown" if ledger["pending"] is None else ledger["pending"]
        lines.append(
            f"  ledger   total {ledger['total']}, done {ledger['done']},"
            f" failed {ledger['failed']}, pending {pending}"
        )
    return lines


def _labels(labels: dict[str, int]) -> list[str]:
    if not labels:
        return ["top-1 labels: none", ""]
    widest, most = max(map(len, labels)), max(labels.values())
    lines = ["top-1 labels"]
    for label, count in labels.items():
        bar = "#" * max(1, round(BAR_WIDTH * count / most))
        lines.append(f"  {label:<{widest}}  {count:>8}  {bar}")
    return [*lines, ""]


def _scores(scores: dict[str, Any]) -> list[str]:
    if not scores["count"]:
        return []
    counts = scores["histogram"]["counts"]
    step = 1 / len(counts)
    lines = [
        f"top-1 scores  mean {scores['mean']}, p50 {scores['p50']}, p95 {scores['p95']}",
        *(
            f"  [{i * step:.2f}, {(i + 1) * step:.2f})  {count}"
            for i, count in enumerate(counts)
            if count
        ),
    ]
    return [*lines, ""]


def _errors(errors: dict[str, Any]) -> list[str]:
    if not errors:
        return ["errors: none", ""]
    lines = ["errors"]
    for code, entry in errors.items():
        lines.append(f"  {code}  {entry['count']}")
        lines += [f"    {e['job_id']}  {e['input']}: {e['message']}" for e in entry["examples"]]
    return [*lines, ""]


def _throughput(throughput: dict[str, Any]) -> list[str]:
    if throughput["seconds"] is None:
        return ["throughput: no finished record", ""]
    rate = throughput["clips_per_s"]
    return [
        f"throughput  {throughput['first_enqueued']} -> {throughput['last_finished']}"
        f"  ({throughput['seconds']} s, {'-' if rate is None else rate} clips/s)",
        "",
    ]


def _timings(timings: dict[str, Any], method: str) -> list[str]:
    lines = ["timings (s)          count        p50        p95        max"]
    for name, stats in timings.items():
        if stats["count"]:
            lines.append(
                f"  {name:<16} {stats['count']:>8} {stats['p50']:>10} {stats['p95']:>10}"
                f" {stats['max']:>10}"
            )
    return [*lines, f"  percentiles: {method}"]
