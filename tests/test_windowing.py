"""The window option at the boundary: every hostile value is refused before a worker sees it."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from producer.messages import Chunk, Job
from producer.windowing import MAX_WINDOW_S, MIN_WINDOW_S, WindowOptions, window_options

HOSTILE = [
    {"window_s": 0},
    {"window_s": -1},
    {"window_s": math.nan},
    {"window_s": math.inf},
    {"window_s": 1e300},
    {"window_s": 1 / 16_000},  # one sample at 16 kHz
    {"window_s": MIN_WINDOW_S / 2},
    {"window_s": MAX_WINDOW_S * 2},
    {"window_s": 1.0, "hop_s": 0},
    {"window_s": 1.0, "hop_s": -0.5},
    {"window_s": 1.0, "hop_s": math.nan},
    {"window_s": 1.0, "hop_s": 2.0},  # a hop longer than the window skips audio
    {"window_s": 1.0, "aggregate": "median"},
    {"window_s": 1.0, "timeline": "yes"},
    {"window_s": 1.0, "timeline": 1},
    {"window_s": 1.0, "threshold": math.nan},
    {"window_s": "1"},
    {"window_s": 1.0, "extra": True},
    {},
]


@pytest.mark.parametrize("window", HOSTILE, ids=[repr(w) for w in HOSTILE])
def test_a_hostile_window_is_refused_in_a_job_and_a_chunk(window: dict[str, object]) -> None:
    job = {"job_id": "b:0", "ref": "/a.wav"}
    with pytest.raises(ValidationError):
        Job.model_validate({**job, "batch_id": "b", "window": window})
    with pytest.raises(ValidationError):
        Chunk.model_validate({"batch_id": "b", "chunk_id": "0", "jobs": [job], "window": window})
    with pytest.raises(ValidationError):
        Chunk.model_validate(
            {"batch_id": "b", "chunk_id": "0", "jobs": [{**job, "window": window}]}
        )


def test_a_chunks_window_reaches_its_jobs_unless_one_names_its_own() -> None:
    own = {"window_s": 2.0, "timeline": True}
    chunk = Chunk.model_validate(
        {
            "batch_id": "b",
            "chunk_id": "0",
            "jobs": [{"job_id": "b:0", "ref": "/a"}, {"job_id": "b:1", "ref": "/b", "window": own}],
            "window": {"window_s": 1.0, "hop_s": 0.5, "aggregate": "max"},
        }
    )
    first, second = chunk.expand()
    assert first.window == WindowOptions(window_s=1.0, hop_s=0.5, aggregate="max")
    assert second.window == WindowOptions(window_s=2.0, timeline=True)


def test_the_window_flags_name_themselves_when_refused() -> None:
    assert window_options(None) is None
    assert window_options(1.0) == WindowOptions(window_s=1.0)
    with pytest.raises(ValueError, match="need --window"):
        window_options(None, hop=0.5)
    with pytest.raises(ValueError, match="need --window"):
        window_options(None, timeline=True)
    with pytest.raises(ValueError, match=r"^--hop: "):
        window_options(1.0, hop=-1.0)
    with pytest.raises(ValueError, match="hop_s is longer than window_s"):
        window_options(1.0, hop=2.0)
