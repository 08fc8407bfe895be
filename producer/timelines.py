"""Timelines: every window's labels of a long recording, and the segments they merge into.

A job that asks for a timeline (``window.timeline``) has it stored beside its record, in the same
results store, as JSON lines: one line per window, in time order, then one per segment::

    {"start_s": 0.0, "end_s": 1.0, "labels": [{"label": "yes", "score": 0.97}]}
    {"segment":{"label":"yes","start_s":0.0,"end_s":2.0,"score":0.95}}

A segment is a run of consecutive windows with the same top label (each at or above the job's
``threshold``, when it set one); its score is the mean of their top scores. The record keeps
only the counts (``windows`` in `producer.records`), so it stays small whatever the length.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from pydantic import BaseModel, ConfigDict, ValidationError

from producer.errors import UnreadableRecord
from producer.records import Label, ResultRecord


class _Line(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WindowLabels(_Line):
    """Labels of one window of a long recording, its start and end in seconds."""

    start_s: float
    end_s: float
    labels: list[Label]


class Segment(_Line):
    """Consecutive windows sharing their top label, merged."""

    label: str
    start_s: float
    end_s: float
    score: float


class Timeline(_Line):
    """A recording's windows, in time order, and the segments they merge into."""

    windows: list[WindowLabels]
    segments: list[Segment]

    def lines(self) -> Iterator[str]:
        """The timeline as JSON lines (no newlines): the windows, then the segments."""
        for window in self.windows:
            yield window.model_dump_json()
        for segment in self.segments:
            yield json.dumps({"segment": segment.model_dump()}, separators=(",", ":"))

    def to_jsonl(self) -> bytes:
        """The stored form: every line, each ended by a newline."""
        return "".join(line + "\n" for line in self.lines()).encode()

    @classmethod
    def from_jsonl(cls, data: bytes | str, where: str) -> Timeline:
        """A stored timeline read back; :class:`UnreadableRecord` naming `where` if it is not."""
        text = data.decode() if isinstance(data, bytes) else data
        windows: list[WindowLabels] = []
        segments: list[Segment] = []
        try:
            for line in text.splitlines():
                fields = json.loads(line) if line.strip() else None
                if isinstance(fields, dict) and set(fields) == {"segment"}:
                    segments.append(Segment.model_validate(fields["segment"]))
                elif fields is not None:
                    windows.append(WindowLabels.model_validate(fields))
        except (ValueError, ValidationError) as e:
            raise UnreadableRecord(f"results store: unreadable timeline at {where}") from e
        return cls(windows=windows, segments=segments)


#: What ``earmark enqueue`` needs to keep a timeline: said when a job has none.
ASK = "enqueue --window S --timeline"


def why_missing(record: ResultRecord | None, timeline: Timeline | None) -> str | None:
    """Why a job has no timeline to show, as ``it …`` ends it; None when it has one."""
    if timeline is not None:
        return None
    if record is None:
        return "has not finished yet"
    if record.error is not None:
        return f"failed ({record.error.code})"
    if record.windows is None:
        return f"was not windowed ({ASK})"
    if not record.windows.timeline:
        return f"asked for no timeline ({ASK})"
    return "has none left in the results store (expired or deleted)"


def merge_segments(windows: Sequence[WindowLabels], threshold: float | None) -> list[Segment]:
    """Runs of consecutive windows with the same top label (at or above `threshold`), merged.

    A window with no labels, or whose top score is under the threshold, ends the run it would
    have continued and starts none.
    """
    segments: list[Segment] = []
    run: list[WindowLabels] = []
    for window in windows:
        top = window.labels[0] if window.labels else None
        counts = top is not None and (threshold is None or top.score >= threshold)
        if run and (not counts or top is None or top.label != run[0].labels[0].label):
            segments.append(_merged(run))
            run = []
        if counts:
            run.append(window)
    if run:
        segments.append(_merged(run))
    return segments


def _merged(run: Sequence[WindowLabels]) -> Segment:
    scores = [window.labels[0].score for window in run]
    return Segment(
        label=run[0].labels[0].label,
        start_s=run[0].start_s,
        end_s=run[-1].end_s,
        score=sum(scores) / len(scores),
    )
