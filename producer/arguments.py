"""The Client's argument checks: every refusal is one :class:`InvalidArgument` naming the
argument, never a raw pydantic ``ValidationError``, ``ValueError`` or ``TypeError``."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import ValidationError

from producer.errors import InvalidArgument, InvalidId, InvalidReference
from producer.ids import check_batch_id, make_job_id, new_batch_id, split_job_id
from producer.messages import JobSpec, describe_invalid
from producer.sources import SourceItem
from producer.windowing import WindowOptions

#: Most references in one bulk message (the message schema's cap on a chunk).
MAX_CHUNK_SIZE = 10_000


@contextmanager
def arguments(name: str | None = None) -> Iterator[None]:
    """Turn a refusal raised inside into :class:`InvalidArgument`, prefixed with `name`."""
    try:
        yield
    except InvalidArgument as e:  # a check inside named the part: name the whole around it
        if name is None:
            raise
        raise InvalidArgument(_named(name, str(e))) from e
    except ValidationError as e:
        raise InvalidArgument(_named(name, describe_invalid(e, whole=None))) from e
    except (InvalidReference, InvalidId, ValueError, TypeError) as e:
        raise InvalidArgument(_named(name, " ".join(str(e).split()))) from e


def check_chunk_size(chunk_size: object) -> int:
    """`chunk_size` when it is an integer from 1 to ``MAX_CHUNK_SIZE``; else ValueError."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise ValueError(f"chunk_size: an integer, not {type(chunk_size).__name__}")
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk_size: from 1 to {MAX_CHUNK_SIZE}, not {chunk_size}")
    return chunk_size


def check_timeout(timeout: object) -> float:
    """`timeout` in seconds when it is a finite number ≥ 0; else ValueError."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise ValueError(f"timeout: seconds as a number, not {type(timeout).__name__}")
    if not math.isfinite(timeout) or timeout < 0:
        raise ValueError(f"timeout: a finite number of seconds >= 0, not {timeout}")
    return float(timeout)


def _named(name: str | None, message: str) -> str:
    return f"{name}: {message}" if name else message


def deadline_of(timeout: float | None) -> float | None:
    """When a wait of `timeout` seconds from now ends; None for no timeout."""
    if timeout is None:
        return None
    with arguments():
        seconds = check_timeout(timeout)
    return time.monotonic() + seconds


def spec_argument(batch_id: str, item: SourceItem, position: int) -> JobSpec:
    """`item` as a job spec (its index not reserved yet); InvalidArgument naming its position."""
    with arguments(f"items[{position}]"):
        ref_argument(item.ref)
        return JobSpec(
            job_id=make_job_id(batch_id, 0), ref=item.ref, meta=item.meta, window=item.window
        )


def items_argument(items: Iterator[object], before: int) -> list[SourceItem]:
    """The next group of items, strings made SourceItems; InvalidArgument for anything else."""
    group = []
    for n, item in enumerate(items):
        if isinstance(item, str):
            item = SourceItem(item)
        if not isinstance(item, SourceItem):
            raise InvalidArgument(
                f"items[{before + n}]: a reference (str) or a SourceItem, not {type(item).__name__}"
            )
        group.append(item)
    return group


def window_argument(window: object) -> WindowOptions | None:
    """`window` as window options: None, WindowOptions or a mapping of its fields; else
    InvalidArgument naming the field."""
    if window is None or isinstance(window, WindowOptions):
        return window
    with arguments("window"):
        if not isinstance(window, dict):
            raise TypeError(f"WindowOptions or a dict of its fields, not {type(window).__name__}")
        return WindowOptions.model_validate(window)


def batch_id_argument(batch_id: object, *, new: bool = True) -> str:
    """`batch_id` checked (a fresh one when None and `new`); else InvalidArgument."""
    if batch_id is None and new:
        return new_batch_id()
    with arguments("batch_id"):
        return check_batch_id(batch_id)


def job_id_argument(job_id: object) -> tuple[str, int]:
    """`job_id` split into its batch id and index; else InvalidArgument."""
    with arguments("job_id"):
        return split_job_id(job_id)  # type: ignore[arg-type]  # checked by split_job_id


def ref_argument(ref: object) -> None:
    """InvalidArgument unless `ref` is a string. What the message schema refuses (empty, over
    4,096 characters) is refused by it; a reference no worker can read is not refused here:
    it gets its own ``invalid_ref`` record, as one bad input fails alone (`earmark enqueue`
    checks a whole manifest first instead: `producer.sources.check_queued_ref`)."""
    if not isinstance(ref, str):
        raise InvalidArgument(f"ref: a string, not {type(ref).__name__}")
