"""Task messages: the JSON that producers (in any language) send and workers accept.

Celery task names and queues are part of the contract; the bodies are Celery protocol 2 JSON
with everything in ``kwargs``::

    earmark.classify        queue earmark.interactive   kwargs {"job": Job}
    earmark.classify_chunk  queue earmark.bulk          kwargs {"chunk": Chunk}
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: One reference per message, micro-batched by the worker.
CLASSIFY_TASK = "earmark.classify"
#: Many references per message (a slice of a manifest, folder or S3 prefix).
CHUNK_TASK = "earmark.classify_chunk"
#: Separate queues, so that a nightly bulk run never starves an interactive caller.
INTERACTIVE_QUEUE = "earmark.interactive"
BULK_QUEUE = "earmark.bulk"
#: References per bulk message: a million files become about four thousand messages.
DEFAULT_CHUNK_SIZE = 256


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JobSpec(_Message):
    """One reference inside a chunk."""

    job_id: str = Field(min_length=3, max_length=300)
    ref: str = Field(min_length=1, max_length=4096)
    meta: dict[str, Any] | None = None


class Job(JobSpec):
    """One reference to classify, sent alone on the interactive queue."""

    batch_id: str = Field(min_length=1, max_length=128)
    top_k: int | None = Field(default=None, ge=0)
    enqueued_at: float = Field(default_factory=time.time)


class Chunk(_Message):
    """A slice of a bulk batch: up to a few hundred references in one message."""

    batch_id: str = Field(min_length=1, max_length=128)
    chunk_id: str = Field(min_length=1, max_length=128)
    jobs: list[JobSpec] = Field(min_length=1, max_length=10_000)
    top_k: int | None = Field(default=None, ge=0)
    enqueued_at: float = Field(default_factory=time.time)

    def expand(self) -> list[Job]:
        """The chunk's references as single jobs."""
        return [
            Job(
                job_id=spec.job_id,
                ref=spec.ref,
                meta=spec.meta,
                batch_id=self.batch_id,
                top_k=self.top_k,
                enqueued_at=self.enqueued_at,
            )
            for spec in self.jobs
        ]


def describe_invalid(error: ValidationError) -> str:
    """What is wrong, field by field, without the values (long, or holding a password)."""
    problems = error.errors(include_input=False, include_url=False)
    return "; ".join(f"{'.'.join(map(str, p['loc'])) or 'message'}: {p['msg']}" for p in problems)
