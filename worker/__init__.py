"""earmark's worker side: fetch, decode, features, model and batching.

``from worker import pipeline`` re-exports :func:`worker.classification.pipeline`, resolved on
first use so that importing a submodule (the Celery app, before it forks) loads no model runtime.
No submodule may be named like an export: once imported, ``worker.pipeline`` would be the module
and shadow the function (issue #23), so the pipeline lives in ``worker/classification.py``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AudioClassificationPipeline", "pipeline"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from worker import classification

        return getattr(classification, name)
    raise AttributeError(f"module 'worker' has no attribute {name!r}")
