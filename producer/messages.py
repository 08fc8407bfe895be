"""Task messages: the JSON that producers (in any language) send and workers accept.

Task names and queues are public (docs/protocol.md); the bodies are Celery
protocol 2 JSON with everything in ``kwargs``::

    earmark.classify        queue earmark.interactive   kwargs {"job": Job}
    earmark.classify_chunk  queue earmark.bulk          kwargs {"chunk": Chunk}

Every field is checked here, at the boundary, so nothing past it can trip on a value: ids follow
the grammar of `producer.ids` (a job id names its own batch), ``top_k`` is a JSON integer,
``enqueued_at`` a finite time, ``meta`` small and shallow enough to be read back always, and
``window`` (sliding windows for a long recording, `producer.windowing`) within its bounds.
"""

from __future__ import annotations

import json
import math
import time
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from producer.ids import batch_of, check_batch_id, check_chunk_id, split_job_id
from producer.windowing import WindowOptions

#: One reference per message, micro-batched by the worker.
CLASSIFY_TASK = "earmark.classify"
#: Many references per message (a slice of a manifest, folder or S3 prefix).
CHUNK_TASK = "earmark.classify_chunk"
#: Separate queues, so that a nightly bulk run never starves an interactive caller.
INTERACTIVE_QUEUE = "earmark.interactive"
BULK_QUEUE = "earmark.bulk"
#: References per bulk message: a million files become about four thousand messages.
DEFAULT_CHUNK_SIZE = 256


#: Largest ``meta`` accepted, in bytes of compact JSON: it rides in every message and record.
MAX_META_BYTES = 16 * 1024
#: Deepest nesting of ``meta`` accepted (objects and arrays); far below what any JSON reader
#: refuses, so that a record written is always a record that can be read.
MAX_META_DEPTH = 16


#: Labels per result: a JSON integer ≥ 0 (``true`` is not 1); 0 means all.
TopK = Annotated[StrictInt, Field(ge=0)]
#: When a message was sent, seconds since the epoch: finite and not before 1970.
SentAt = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JobSpec(_Message):
    """One reference inside a chunk."""

    job_id: str = Field(min_length=3, max_length=300)
    ref: str = Field(min_length=1, max_length=4096)
    meta: dict[str, Any] | None = None
    #: Sliding windows for this reference (in a chunk: instead of the chunk's own).
    window: WindowOptions | None = None

    @field_validator("job_id")
    @classmethod
    def _job_id_grammar(cls, job_id: str) -> str:
        split_job_id(job_id)
        return job_id

    @field_validator("meta", mode="before")
    @classmethod
    def _meta_bounded(cls, meta: object) -> object:
        return check_meta(meta)


class Job(JobSpec):
    """One reference to classify, sent alone on the interactive queue."""

    batch_id: str = Field(min_length=1, max_length=128)
    top_k: TopK | None = None
    enqueued_at: SentAt = Field(default_factory=time.time)

    @model_validator(mode="after")
    def _job_of_its_batch(self) -> Job:
        if batch_of(self.job_id) != check_batch_id(self.batch_id):
            raise ValueError("job_id names another batch than batch_id")
        return self


class Chunk(_Message):
    """A slice of a bulk batch: up to a few hundred references in one message."""

    batch_id: str = Field(min_length=1, max_length=128)
    chunk_id: str = Field(min_length=1, max_length=128)
    jobs: list[JobSpec] = Field(min_length=1, max_length=10_000)
    top_k: TopK | None = None
    #: Sliding windows for every reference of the chunk that names none of its own.
    window: WindowOptions | None = None
    enqueued_at: SentAt = Field(default_factory=time.time)

    @model_validator(mode="after")
    def _jobs_of_this_batch(self) -> Chunk:
        check_batch_id(self.batch_id)
        check_chunk_id(self.chunk_id)
        if any(batch_of(spec.job_id) != self.batch_id for spec in self.jobs):
            raise ValueError("a job_id names another batch than the chunk's batch_id")
        return self

    def expand(self) -> list[Job]:
        """The chunk's references as single jobs."""
        return [
            Job(
                job_id=spec.job_id,
                ref=spec.ref,
                meta=spec.meta,
                window=spec.window or self.window,
                batch_id=self.batch_id,
                top_k=self.top_k,
                enqueued_at=self.enqueued_at,
            )
            for spec in self.jobs
        ]


def describe_invalid(error: ValidationError, whole: str | None = "message") -> str:
    """What is wrong, field by field, without the values (long, or holding a password); a
    problem of no one field is named `whole` (None: not named)."""
    problems = error.errors(include_input=False, include_url=False)
    return "; ".join(
        f"{'.'.join(map(str, p['loc'])) or whole}: {_said(p['msg'])}"
        if p["loc"] or whole
        else _said(p["msg"])
        for p in problems
    )


def _said(message: str) -> str:
    """pydantic's message without the "Value error, " a validator's own refusal gets."""
    return message.removeprefix("Value error, ")


def check_top_k(top_k: object) -> int | None:
    """`top_k` when it is None or an integer ≥ 0; :class:`ValidationError` otherwise."""
    return _TOP_K.validate_python(top_k)


_TOP_K: TypeAdapter[int | None] = TypeAdapter(TopK | None)


def check_meta(meta: object) -> object:
    """`meta` itself when it is within ``MAX_META_DEPTH`` and ``MAX_META_BYTES``; else ValueError.

    Walked without recursion, so a hostile nesting cannot exhaust the stack before it is refused.
    """
    if meta is None:
        return None
    stack: list[tuple[object, int]] = [(meta, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_META_DEPTH and isinstance(value, dict | list | tuple):
            raise ValueError(f"meta is nested deeper than {MAX_META_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list | tuple):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValueError("meta holds a number that is not finite")
    try:
        size = len(json.dumps(meta, separators=(",", ":"), allow_nan=False).encode())
    except (TypeError, ValueError) as e:
        raise ValueError(f"meta is not JSON: {e}") from e
    if size > MAX_META_BYTES:
        raise ValueError(f"meta is {size} bytes of JSON, over the {MAX_META_BYTES}-byte cap")
    return meta
