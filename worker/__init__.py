"""earmark's worker side: fetch, decode, features, model and batching.

``from worker import pipeline`` re-exports :func:`worker.pipeline.pipeline`, resolved on
first use so that importing a submodule (the Celery app, before it forks) loads no model runtime.
"""

from __future__ import annotations

from typing import Any

__all__ = ["pipeline"]


def __getattr__(name: str) -> Any:
    if name == "pipeline":
        from worker.pipeline import pipeline

        return pipeline
    raise AttributeError(f"module 'worker' has no attribute {name!r}")
