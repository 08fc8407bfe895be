"""Timelines: windows merged into segments by their top label, stored and read as JSON lines."""

from __future__ import annotations

import pytest

from producer.errors import UnreadableRecord
from producer.records import Label
from producer.timelines import Segment, Timeline, WindowLabels, merge_segments


def _windows(*tops: tuple[str, float]) -> list[WindowLabels]:
    return [
        WindowLabels(start_s=i * 0.5, end_s=i * 0.5 + 1.0, labels=[Label(label=name, score=s)])
        for i, (name, s) in enumerate(tops)
    ]


def test_consecutive_windows_of_one_top_label_merge_into_a_segment() -> None:
    windows = _windows(("yes", 0.9), ("yes", 0.7), ("no", 0.8), ("yes", 0.6))
    segments = merge_segments(windows, None)
    assert segments[0].score == pytest.approx(0.8)
    assert [s.model_copy(update={"score": round(s.score, 9)}) for s in segments] == [
        Segment(label="yes", start_s=0.0, end_s=1.5, score=0.8),
        Segment(label="no", start_s=1.0, end_s=2.0, score=0.8),
        Segment(label="yes", start_s=1.5, end_s=2.5, score=0.6),
    ]


def test_a_window_under_the_threshold_breaks_a_segment_and_starts_none() -> None:
    windows = _windows(("yes", 0.9), ("yes", 0.2), ("yes", 0.8))
    assert [s.start_s for s in merge_segments(windows, 0.5)] == [0.0, 1.0]
    assert merge_segments(windows, 0.95) == []
    assert merge_segments([], None) == []


def test_a_timeline_round_trips_through_its_json_lines() -> None:
    windows = _windows(("yes", 0.9), ("up", 0.7))
    timeline = Timeline(windows=windows, segments=merge_segments(windows, None))
    lines = list(timeline.lines())
    assert lines[0].startswith('{"start_s":0.0,') and lines[-1].startswith('{"segment":{')
    assert Timeline.from_jsonl(timeline.to_jsonl(), "here") == timeline


@pytest.mark.parametrize("data", [b"{not json}\n", b'{"start_s": 1}\n', b'{"segment": {}}\n'])
def test_an_unreadable_timeline_names_where_it_lies(data: bytes) -> None:
    with pytest.raises(UnreadableRecord, match="at somewhere"):
        Timeline.from_jsonl(data, "somewhere")
