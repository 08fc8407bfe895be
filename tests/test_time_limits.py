"""A chunk's time limit: the base for clips, grown by the windowed cap per recording."""

from __future__ import annotations

from worker.service.time_limits import chunk_time_limit


def test_a_chunks_time_limit_grows_by_the_windowed_cap_per_recording() -> None:
    """A chunk of clips keeps EARMARK_CHUNK_TIME_LIMIT_S; each windowed job (its own window,
    or the chunk's) adds EARMARK_MAX_WINDOWED_SECONDS; a malformed chunk adds nothing."""
    clips = {"jobs": [{"ref": "/a"}, {"ref": "/b"}]}
    assert chunk_time_limit(clips, 3600, 86400) == 3600
    own = {"jobs": [{"ref": "/a"}, {"ref": "/b", "window": {"window_s": 1}}]}
    assert chunk_time_limit(own, 3600, 86400) == 3600 + 86400
    shared = {**clips, "window": {"window_s": 1}}
    assert chunk_time_limit(shared, 3600, 86400) == 3600 + 2 * 86400
    for malformed in (None, "chunk", {"jobs": "x"}, {"jobs": [1, None]}):
        assert chunk_time_limit(malformed, 3600, 86400) == 3600
