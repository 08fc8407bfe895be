"""Whether anything is known under a batch or job id: the ledger's counters, else a record.

A batch is known once a producer reserved a job of it (`state/ledger.py`'s ``total``, even 0 for
an empty run that was asked for) or a worker finished one (``done``), or while the results store
holds a record of it (the store may keep records after the ledger expired, or hold those of a
producer that skipped the reservation). Anything else is a typo or an expired batch: every read
command says so (:class:`UnknownId`, exit 5) instead of printing nothing, ``pending: null`` or an
empty report, or waiting for ever.
"""

from __future__ import annotations

from producer.errors import UnknownId
from producer.ids import split_job_id
from producer.state.ledger import BatchStatus
from producer.stores import ResultsStore

#: What the error says after the id: the two usual causes.
_UNKNOWN = "nothing is known under that {kind} id (a typo, or expired)"


def ledger_knows(status: BatchStatus) -> bool:
    """Whether the ledger holds anything of the batch (an unknown one reads as all zeros)."""
    return status.total > 0 or status.done > 0 or status.pending is not None


def require_batch(batch_id: str, status: BatchStatus | None, store: ResultsStore) -> None:
    """:class:`UnknownId` unless the ledger (`status`; None when it could not be read) or the
    store knows `batch_id`."""
    if status is not None and ledger_knows(status):
        return
    if next(iter(store.iter_batch(batch_id)), None) is not None:
        return
    unread = "" if status is not None else " (the ledger could not be read)"
    raise UnknownId(f"batch {batch_id}: {_UNKNOWN.format(kind='batch')}{unread}")


def require_job(job_id: str, status: BatchStatus, store: ResultsStore) -> None:
    """:class:`UnknownId` unless `job_id` has a record, or its batch reserved its index (or,
    reserved by no one, has records): a job that may still finish."""
    batch_id, index = split_job_id(job_id)
    if store.get(job_id) is not None:
        return
    if status.pending is not None and status.total > 0 and index >= status.total:
        raise UnknownId(
            f"job {job_id}: {_UNKNOWN.format(kind='job')}; batch {batch_id} has"
            f" {status.total} jobs, {batch_id}:0 to {batch_id}:{status.total - 1}"
        )
    if ledger_knows(status):
        return
    if next(iter(store.iter_batch(batch_id)), None) is None:
        raise UnknownId(f"job {job_id}: {_UNKNOWN.format(kind='job')}")
