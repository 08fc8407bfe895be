"""The report's numbers and sentences as people read them, for the text and the HTML alike.

Durations go from nanoseconds to days (``112 µs``, ``31 ms``, ``4.2 s``, ``3 min 20 s``,
``10 h 5 min``) with two or three significant digits: a morning report is read, not parsed
(``--json`` keeps the seconds as floats); a position in a recording is a clock (``1:02:03``).
The commands point a reader at one record or at the whole of a list the report cuts short.
"""

from __future__ import annotations

import shlex

#: Units below a second, smallest first: (name, seconds in one).
_SMALL_UNITS = (("ns", 1e-9), ("µs", 1e-6), ("ms", 1e-3))
#: Seconds in a minute, an hour, a day.
MINUTE, HOUR, DAY = 60, 3600, 86400
#: Two-unit durations: (seconds in the small unit, in the big one, names, most of the big one).
_COMPOUND = (
    (1, MINUTE, "min", "s", 60),
    (MINUTE, HOUR, "h", "min", 24),
    (HOUR, DAY, "d", "h", None),
)
#: The `jq` program that prints the whole of each of the report's lists, in the list's order,
#: from ``earmark results BATCH`` (one JSON record a line), and whether it reads them all first.
ALL_OF = {
    "failed": ('select(.status == "error")', False),
    "lowest_scores": ("map(select(.labels)) | sort_by([.labels[].score] | max) | .[]", True),
    "slowest_fetches": ("map(select(.timings.fetch_s)) | sort_by(-.timings.fetch_s) | .[]", True),
}


def duration(seconds: float | None) -> str:
    """`seconds` in the largest unit that keeps it readable: ``112 µs``, ``3 min 20 s``."""
    if seconds is None:
        return "-"
    if seconds < 0:
        return "-" + duration(-seconds)
    if seconds == 0:
        return "0 s"
    for unit, size in _SMALL_UNITS:
        shown = _digits(seconds / size)
        if float(shown) < 1000:
            return f"{shown} {unit}"
    if round(seconds) < MINUTE:
        return f"{_digits(seconds)} s"
    for small, big, big_unit, small_unit, most in _COMPOUND:
        count, rest = divmod(round(seconds / small), big // small)
        if most is None or count < most:
            return f"{count} {big_unit}" + (f" {rest} {small_unit}" if rest else "")
    raise AssertionError("unreachable: the last unit has no limit")


def clock(seconds: float) -> str:
    """A position in a recording: ``m:ss`` under an hour, ``h:mm:ss`` from one, and tenths
    when it falls between seconds (``0:02.5``)."""
    whole, tenth = divmod(round(seconds * 10), 10)
    hours, rest = divmod(whole, HOUR)
    minutes, secs = divmod(rest, MINUTE)
    shown = f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
    return shown + (f".{tenth}" if tenth else "")


def _digits(value: float) -> str:
    """`value` (≥ 0) with one decimal below 10 and none above; a trailing ``.0`` dropped."""
    shown = f"{value:.1f}" if round(value, 1) < 10 else f"{round(value)}"
    return shown.removesuffix(".0")


def rate(per_s: float | None, unit: str = "clips") -> str:
    """A rate with three significant digits, per second, or per minute or hour when slower:
    ``1.42 clips/s``, ``312 clips/s``, ``7.5 clips/min``."""
    if per_s is None:
        return "-"
    for per, scale in (("s", 1), ("min", MINUTE), ("h", HOUR)):
        if per_s * scale >= 1 or per == "h":
            break
    value = per_s * scale
    shown = f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    return f"{shown} {unit}/{per}"


def count(n: int) -> str:
    """A count with thousands separated: ``100,000``."""
    return f"{n:,}"


def score(value: float | None) -> str:
    """A score in [0, 1] to two decimals (three below 0.01, where two would say 0.00)."""
    if value is None:
        return "-"
    return f"{value:.3f}" if 0 < value < 0.01 else f"{value:.2f}"


def stamp(iso: str | None) -> str:
    """A record's UTC stamp (``2026-12-04T01:00:00Z``) as ``2026-12-04 01:00:00 UTC``."""
    if iso is None:
        return "-"
    return iso.replace("T", " ").removesuffix("Z") + " UTC" if iso.endswith("Z") else iso


def between(first: str | None, last: str | None) -> str:
    """Two UTC stamps as a span, the date said once when it is the same day."""
    if first is None or last is None:
        return "-"
    end = stamp(last)
    if first[:10] == last[:10]:
        end = end[11:]
    return f"from {stamp(first)} to {end}"


def message(text: str, ref: str) -> str:
    """An error message without the reference it starts with: the report shows it beside."""
    head, sep, rest = text.partition(": ")
    if sep and rest and _same_place(head, ref):
        return rest
    return text


def _same_place(head: str, ref: str) -> bool:
    """Whether a message's head names `ref`: the same text, or the file it resolved to."""
    if head == ref:
        return True
    path = ref.removeprefix("file://").removeprefix("./").lstrip("/")
    return bool(path) and head.endswith("/" + path)


def see_one(job_id: str | None) -> str:
    """The command that prints one record in full."""
    return "" if job_id is None else f"earmark results {shlex.quote(job_id)}"


def see_all(batch_id: str, kind: str) -> str:
    """The command that prints every record of one of the report's lists, in its order."""
    program, slurp = ALL_OF[kind]
    flags = "-cs" if slurp else "-c"
    return f"earmark results {shlex.quote(batch_id)} | jq {flags} {shlex.quote(program)}"
