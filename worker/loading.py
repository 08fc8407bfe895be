"""Loading ahead: inputs are fetched and decoded on I/O threads while the model runs, and handed
on in input order, in groups bounded by count and by bytes, so that a chunk of long files
never holds more decoded audio than ``EARMARK_MAX_INFLIGHT_BYTES`` (plus the few loads in
flight, one per thread)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
L = TypeVar("L")


def load_ahead(
    items: Iterable[T],
    load: Callable[[T], L],
    size_of: Callable[[L], int],
    *,
    max_items: int,
    max_bytes: int,
    threads: int,
) -> Iterator[list[L]]:
    """``load(item)`` for every item, in order, as lists of at most `max_items` whose sizes add
    up to at most `max_bytes` (an item over it alone goes alone); at most `threads` loads run
    at once, and they keep running while the caller works on a group."""
    if max_items < 1 or max_bytes < 1 or threads < 1:
        raise ValueError("max_items, max_bytes and threads must be at least 1")
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending: deque[Future[L]] = deque()
        group: list[L] = []
        held = 0
        iterator = iter(items)
        while True:
            while len(pending) < threads and (item := next(iterator, _END)) is not _END:
                pending.append(pool.submit(load, item))  # type: ignore[arg-type]
            if not pending:
                break
            loaded = pending.popleft().result()
            size = size_of(loaded)
            if group and (len(group) == max_items or held + size > max_bytes):
                yield group
                group, held = [], 0
            group.append(loaded)
            held += size
        if group:
            yield group


#: Marks the end of the items (None may be an item).
_END = object()
