"""The Client's argument checks: every refusal is one :class:`InvalidArgument` naming the
argument, never a raw pydantic ``ValidationError``, ``ValueError`` or ``TypeError``."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import ValidationError

from producer.errors import InvalidArgument, InvalidId, InvalidReference

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
        raise InvalidArgument(_named(name, _describe(e))) from e
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


def _describe(error: ValidationError) -> str:
    """Each problem as ``field: what``, without the values (long, or holding a password)."""
    problems = error.errors(include_input=False, include_url=False)
    return "; ".join(
        f"{'.'.join(map(str, p['loc']))}: {p['msg']}" if p["loc"] else p["msg"] for p in problems
    )


def _named(name: str | None, message: str) -> str:
    return f"{name}: {message}" if name else message
