"""A batch's morning report, built in one pass over its records in bounded memory.

:class:`Summary` takes records one at a time (``add``) and keeps only counters and sketches:
label and error-code counts (capped), a fixed score histogram, one quantile sketch per timing,
a completions time series, and the few references a reader looks for (failed, lowest top-1
scores, slowest fetches: :data:`LIST_LENGTH` of each). Memory depends on the number of distinct
labels and codes, never on the number of records; :meth:`Summary.data` is the report as
JSON-ready data, and :func:`build` streams a batch from its results store into it.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from producer.records import ResultRecord
from producer.report.sketch import RELATIVE_ERROR, Lowest, QuantileSketch, TimeSeries
from producer.state.ledger import BatchStatus
from producer.stores.base import ResultsStore

#: The timings a record may carry, in pipeline order.
TIMINGS = ("queued_s", "fetch_s", "decode_s", "infer_s")
#: Bins of the top-1 score histogram over [0, 1].
SCORE_BINS = 20
#: Distinct labels (or error codes) counted by name; any beyond are counted under OTHER.
MAX_NAMES = 1000
#: The name that counts labels or codes past MAX_NAMES.
OTHER = "(other)"
#: Example failures kept per error code.
EXAMPLES = 3
#: References in each list (failed, lowest top-1 scores, slowest fetches).
LIST_LENGTH = 20
#: Most bars of the completions chart: a round bucket width is chosen to need no more.
COMPLETION_BARS = 60
#: How the percentiles are computed, for the reader of the report.
PERCENTILES = (
    f"nearest-rank, from a DDSketch with {RELATIVE_ERROR:.0%} relative error"
    " (bounded memory, any batch size)"
)


class Summary:
    """Everything the report says about one batch, accumulated record by record."""

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        self.statuses: Counter[str] = Counter()
        self.labels: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.examples: dict[str, list[dict[str, str | None]]] = {}
        self.scores = QuantileSketch()
        self.score_bins = [0] * SCORE_BINS
        self.timings = {name: QuantileSketch() for name in TIMINGS}
        self.completions = TimeSeries()
        self.lists: dict[str, Lowest[dict[str, Any]]] = {
            name: Lowest(LIST_LENGTH) for name in ("failed", "lowest_scores", "slowest_fetches")
        }
        self.first_enqueued: float | None = None
        self.last_finished: float | None = None
        # Jobs cut into windows (`producer.windowing`), their seconds of audio, their timelines.
        self.windowed = self.timelines = 0
        self.windowed_s = 0.0

    def add(self, record: ResultRecord) -> None:
        """Count one record."""
        self.statuses[record.status] += 1
        index, shown = _job_index(record.job_id), {"job_id": record.job_id, "input": record.input}
        if record.labels:
            top = max(record.labels, key=lambda label: label.score)
            _count(self.labels, top.label)
            self.scores.add(top.score)
            self.score_bins[min(SCORE_BINS - 1, max(0, math.floor(top.score * SCORE_BINS)))] += 1
            entry = {**shown, "label": top.label, "score": top.score}
            self.lists["lowest_scores"].add((top.score, index), entry)
        if record.error is not None:
            self._add_error(record)
            error = {"code": record.error.code, "message": record.error.message}
            self.lists["failed"].add((index,), {**shown, **error})
        if record.timings.fetch_s is not None:
            fetch = {**shown, "fetch_s": record.timings.fetch_s}
            self.lists["slowest_fetches"].add((-record.timings.fetch_s, index), fetch)
        if record.windows is not None:
            self._add_windowed(record)
        self._add_times(record)

    def _add_windowed(self, record: ResultRecord) -> None:
        assert record.windows is not None
        self.windowed += 1
        self.windowed_s += record.audio.duration_s if record.audio is not None else 0.0
        self.timelines += record.windows.timeline

    def _add_error(self, record: ResultRecord) -> None:
        assert record.error is not None
        code = _count(self.errors, record.error.code)
        examples = self.examples.setdefault(code, [])
        if len(examples) < EXAMPLES:
            examples.append(
                {"job_id": record.job_id, "input": record.input, "message": record.error.message}
            )

    def _add_times(self, record: ResultRecord) -> None:
        spent = 0.0
        for name in TIMINGS:
            value = getattr(record.timings, name)
            if value is not None:
                self.timings[name].add(value)
                spent += value
        finished = _epoch(record.finished_at)
        if finished is None:
            return
        self.completions.add(int(finished))
        # A record does not say when its job was queued; the stages it timed say how long ago.
        enqueued = finished - spent
        if self.first_enqueued is None or enqueued < self.first_enqueued:
            self.first_enqueued = enqueued
        if self.last_finished is None or finished > self.last_finished:
            self.last_finished = finished

    def data(self, status: BatchStatus | None = None) -> dict[str, Any]:
        """The report as JSON-ready data; `status` adds the ledger's counters when known."""
        records = sum(self.statuses.values())
        start, width, counts = self.completions.buckets(COMPLETION_BARS)
        return {
            "batch_id": self.batch_id,
            "totals": {
                "records": records,
                "ok": self.statuses["ok"],
                "error": self.statuses["error"],
                "ledger": None if status is None else status.model_dump(exclude={"batch_id"}),
            },
            "labels": dict(self.labels.most_common()),
            "scores": {
                **self.scores.summary(),
                "histogram": {"bins": SCORE_BINS, "counts": list(self.score_bins)},
            },
            "errors": {
                code: {"count": count, "examples": self.examples.get(code, [])}
                for code, count in self.errors.most_common()
            },
            "windowed": self._windowed(),
            "throughput": self._throughput(records),
            "timings": {name: sketch.summary() for name, sketch in self.timings.items()},
            "completions": {
                "start": _iso(start) if counts else None,
                "bucket_s": width,
                "counts": counts,
            },
            "percentiles": PERCENTILES,
            **{
                name: {"count": kept.seen, "items": kept.entries()}
                for name, kept in self.lists.items()
            },
        }

    def _windowed(self) -> dict[str, Any]:
        """Jobs cut into windows, their hours of audio (as seconds), and how many kept a
        timeline: zeros when none was windowed."""
        return {
            "jobs": self.windowed,
            "audio_s": round(self.windowed_s, 3),
            "timelines": self.timelines,
        }

    def _throughput(self, records: int) -> dict[str, Any]:
        first, last = self.first_enqueued, self.last_finished
        seconds = None if first is None or last is None else max(0.0, last - first)
        return {
            "first_enqueued": None if first is None else _iso(first),
            "last_finished": None if last is None else _iso(last),
            "seconds": None if seconds is None else round(seconds, 3),
            "clips_per_s": round(records / seconds, 3) if seconds else None,
        }


def build(
    store: ResultsStore, batch_id: str, status: BatchStatus | None = None
) -> dict[str, object]:
    """The report data of `batch_id`, its records streamed from `store` once."""
    summary = Summary(batch_id)
    for record in store.iter_batch(batch_id):
        summary.add(record)
    return summary.data(status)


def _count(counter: Counter[str], name: str) -> str:
    """Count `name` (or OTHER, once MAX_NAMES names are known); the name counted."""
    if name not in counter and len(counter) >= MAX_NAMES:
        name = OTHER
    counter[name] += 1
    return name


def _job_index(job_id: str | None) -> float:
    """A job's index in its batch (``batch:index``), for a stable order; infinity if none."""
    index = (job_id or "").rpartition(":")[2]
    return int(index) if index.isdigit() else math.inf


@lru_cache(maxsize=4096)
def _epoch(stamp: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 UTC stamp; None when it does not parse."""
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
