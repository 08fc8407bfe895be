"""A bulk chunk's time limit, grown for the long recordings it holds.

``EARMARK_CHUNK_TIME_LIMIT_S`` bounds a chunk of clips; a recording of hours labelled in windows
(issue #22) must not trip it merely by being long. Celery fixes a task's hard limit when the
pool takes the request, so the chunk task's request class reads the chunk it carries and adds
``EARMARK_MAX_WINDOWED_SECONDS`` for each windowed job in it: labelling runs faster than the
audio lasts on every model earmark serves, so a recording within its cap finishes within its
share, and a stuck one is still killed.
"""

from __future__ import annotations

from typing import Any

from celery.worker.request import Request


def chunk_time_limit(chunk: object, base_s: float, per_recording_s: float) -> float:
    """`base_s`, plus `per_recording_s` for each windowed job of `chunk` (a chunk's own
    ``window`` counts for every job naming none); any malformed part counts nothing."""
    if not isinstance(chunk, dict) or not isinstance(chunk.get("jobs"), list):
        return base_s
    default = chunk.get("window") is not None
    windowed = sum(
        1
        for job in chunk["jobs"]
        if isinstance(job, dict) and (job.get("window") is not None or default)
    )
    return base_s + windowed * per_recording_s


def chunk_request(base_s: float, per_recording_s: float) -> type[Request]:
    """The chunk task's request class: its hard limit is `chunk_time_limit` of its chunk."""

    class ChunkRequest(Request):  # type: ignore[misc]  # Celery is untyped
        """A chunk's request, its hard time limit grown for its recordings."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            soft, hard = self.time_limits  # type: ignore[has-type]  # set by Celery
            chunk = self.kwargs.get("chunk") if isinstance(self.kwargs, dict) else None
            limit = chunk_time_limit(chunk, hard or base_s, per_recording_s)
            if limit != (hard or base_s):
                self.time_limits = (soft, limit)

    return ChunkRequest
