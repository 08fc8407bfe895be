"""The producer's client: queue references, then poll their status and results.

Every bad argument raises :class:`InvalidArgument` naming it; an id nothing is known under,
:class:`UnknownId`; a wait past its timeout, :class:`WaitTimedOut` (`producer.errors`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import Any

from celery import Celery

from producer.arguments import (
    arguments,
    batch_id_argument,
    check_chunk_size,
    deadline_of,
    items_argument,
    job_id_argument,
    ref_argument,
    spec_argument,
    window_argument,
)
from producer.broker import Publisher, make_celery
from producer.errors import BrokerError, InvalidArgument, NothingToQueue, WaitTimedOut
from producer.ids import make_job_id
from producer.lookup import require_batch, require_job
from producer.messages import (
    CHUNK_TASK,
    CLASSIFY_TASK,
    DEFAULT_CHUNK_SIZE,
    Chunk,
    Job,
    JobSpec,
    check_top_k,
)
from producer.records import ResultRecord
from producer.settings import Settings
from producer.sources import SourceItem
from producer.state.ledger import BatchStatus
from producer.state.outstanding import chunk_key
from producer.state.shared import SharedState, open_state
from producer.stores import ResultsStore, open_store
from producer.timelines import Timeline
from producer.watch import POLL_S, OnStall, Watch
from producer.windowing import WindowOptions

#: Interactive jobs published per broker round of id reservation.
PUBLISH_GROUP = 500


@dataclass(frozen=True)
class Submission:
    """What a call to :meth:`Client.submit_many` queued."""

    batch_id: str
    jobs: int


class Client:
    """Queue references to earmark workers and read their results."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        celery: Celery | None = None,
        store: ResultsStore | None = None,
        state: SharedState | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.celery = celery or make_celery(self.settings, name="earmark-producer")
        self.publisher = Publisher(self.celery)
        self.store = store or open_store(
            self.settings.results_url, ttl_s=self.settings.result_ttl_s
        )
        self.state = state or open_state(self.settings)
        self.ledger = self.state.ledger
        self.dead_letters = self.state.dead_letters

    def submit(
        self,
        ref: str,
        *,
        top_k: int | None = None,
        meta: dict[str, Any] | None = None,
        batch_id: str | None = None,
        window: WindowOptions | dict[str, Any] | None = None,
    ) -> str:
        """Queue one reference on the interactive queue; returns its job id.

        `window` asks for sliding windows (a long recording; `producer.windowing`), as a
        WindowOptions or a dict of its fields: ``{"window_s": 1.0, "timeline": True}``.
        A bad argument (an id, ``top_k``, ``meta``, ``window``, a reference that is not a
        string, empty or too long) raises :class:`InvalidArgument` naming it, before anything
        is reserved or sent; a reference the worker cannot read gets its ``invalid_ref`` record.
        """
        batch_id = batch_id_argument(batch_id)
        windows = window_argument(window)
        # Validated before an id is reserved: a refused job must not count as pending.
        with arguments():
            ref_argument(ref)
            draft = Job(
                job_id=make_job_id(batch_id, 0),
                batch_id=batch_id,
                ref=ref,
                meta=meta,
                top_k=top_k,
                window=windows,
            )
        (index,) = self.ledger.reserve(batch_id, 1)
        job = draft.model_copy(update={"job_id": make_job_id(batch_id, index)})
        self._publish(CLASSIFY_TASK, batch_id, {job.job_id: _job_body(job)})
        return job.job_id

    def submit_many(
        self,
        items: Iterable[SourceItem | str],
        *,
        batch_id: str | None = None,
        top_k: int | None = None,
        bulk: bool = True,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        on_progress: Callable[[int], None] | None = None,
        allow_empty: bool = False,
        window: WindowOptions | dict[str, Any] | None = None,
    ) -> Submission:
        """Queue many references as one batch: chunks on the bulk queue, or single jobs.

        `window` asks for sliding windows for every item that names none of its own
        (`SourceItem.window`, a manifest line's window keys), as :meth:`submit` takes it.

        Items stream, group by group; a bad one raises :class:`InvalidArgument` naming its
        position, after the groups before it were sent (``on_progress`` has counted them). No
        item at all raises :class:`NothingToQueue` unless `allow_empty`; an empty batch that
        was allowed is recorded (total 0), so that reading it says so rather than
        :class:`UnknownId`.
        """
        batch_id = batch_id_argument(batch_id)
        # Checked before any id is reserved: a refused batch must not stay pending.
        with arguments("top_k"):
            check_top_k(top_k)
        with arguments():
            check_chunk_size(chunk_size)
        windows = window_argument(window)
        size = chunk_size if bulk else PUBLISH_GROUP
        messages = partial(_chunk if bulk else _jobs, top_k=top_k, window=windows)
        total = self._send_groups(batch_id, iter(items), size, messages, on_progress)
        if total == 0:
            if not allow_empty:
                raise NothingToQueue("nothing to queue: no reference given (allow_empty=False)")
            self.ledger.reserve(batch_id, 0)
        return Submission(batch_id, total)

    def _send_groups(
        self,
        batch_id: str,
        items: Iterator[SourceItem | str],
        size: int,
        messages: Callable[[str, list[JobSpec]], tuple[str, dict[str, dict[str, Any]]]],
        on_progress: Callable[[int], None] | None,
    ) -> int:
        """Reserve, book and publish `items` a group of `size` at a time; how many were sent."""
        total = 0
        with self.celery.producer_or_acquire() as producer:
            while group := items_argument(islice(items, size), total):
                task, bodies = messages(batch_id, self._reserve(batch_id, group, total))
                self._publish(task, batch_id, bodies, producer)
                total += len(group)
                if on_progress is not None:
                    on_progress(len(group))
        return total

    def replay(self, job: Job) -> None:
        """Queue a job again under its own id, its attempts and its counted finish forgotten."""
        if not isinstance(job, Job):
            raise InvalidArgument(f"job: a producer.messages.Job, not {type(job).__name__}")
        self.state.attempts.clear(job.job_id)
        self.state.dead_letters.forget(job.job_id)
        self.ledger.reopen(job.job_id, failed=True)
        self._publish(CLASSIFY_TASK, job.batch_id, {job.job_id: _job_body(job)})

    def status(self, batch_id: str) -> BatchStatus:
        """How far a batch has come: total, done, failed, pending; :class:`UnknownId` when
        nothing is known under `batch_id` (a typo, an expired batch, or one whose producer
        skipped the reservation and of which no job has finished yet)."""
        status = self.ledger.status(batch_id_argument(batch_id, new=False))
        require_batch(batch_id, status, self.store)
        return status

    def check_known(self, id: str) -> None:
        """:class:`UnknownId` unless something is known under `id`, a job id (``batch:index``,
        its index reserved or its record stored) or a batch id."""
        if ":" in id:
            batch_id, _ = job_id_argument(id)
            require_job(id, self.ledger.status(batch_id), self.store)
        else:
            self.status(id)

    def result(
        self, job_id: str, *, wait: bool = False, timeout: float | None = None
    ) -> ResultRecord | None:
        """A job's record, or None when the job is known but not finished yet.

        With ``wait``, polls until the record is there; :class:`WaitTimedOut` once `timeout`
        seconds pass first. :class:`UnknownId` when nothing is known under `job_id`: at once
        without ``wait`` or without a `timeout` (such a wait could never end), else when the
        timeout passes with the job still unknown (a producer that skipped the reservation is
        seen only at its first record).
        """
        job_id_argument(job_id)
        deadline = deadline_of(timeout)
        if not wait or deadline is None:
            self.check_known(job_id)
        while True:
            record = self.store.get(job_id)
            if record is not None or not wait:
                return record
            if _past(deadline):
                self.check_known(job_id)
                raise WaitTimedOut(f"no result for {job_id} after {timeout:g} s")
            time.sleep(POLL_S)

    def timeline(
        self, job_id: str, *, wait: bool = False, timeout: float | None = None
    ) -> Timeline | None:
        """A job's timeline (`producer.timelines`), once its record is there; None when the job
        has finished without one (it asked for none, or failed) or, without ``wait``, has not
        finished yet. :class:`UnknownId` and :class:`WaitTimedOut` as :meth:`result` says."""
        record = self.result(job_id, wait=wait, timeout=timeout)
        if record is None or not record.has_timeline:
            return None
        return self.store.get_timeline(job_id)

    def iter_results(
        self,
        batch_id: str,
        *,
        wait: bool = False,
        timeout: float | None = None,
        on_stall: OnStall | None = None,
    ) -> Iterator[ResultRecord]:
        """A batch's records; with ``wait``, each as it arrives until none is pending, and
        :class:`WaitTimedOut` once `timeout` seconds pass first. :class:`UnknownId` for a batch
        nothing is known of, as :meth:`result` says (raised by this call, not the iteration,
        except after a timeout)."""
        if not wait:
            self.status(batch_id)
            return self.store.iter_batch(batch_id)
        return self.watch(batch_id, timeout=timeout, on_stall=on_stall).records()

    def watch(
        self, batch_id: str, *, timeout: float | None = None, on_stall: OnStall | None = None
    ) -> Watch:
        """A wait on one batch (its records or its counters; see producer/watch.py);
        :class:`UnknownId` as :meth:`result` says, :class:`WaitTimedOut` past `timeout`."""
        batch_id = batch_id_argument(batch_id, new=False)
        if deadline_of(timeout) is None:
            self.status(batch_id)  # an unknown batch without a timeout: a wait for ever
        return Watch(
            status=lambda: self.ledger.status(batch_id),
            read=lambda: self.store.iter_batch(batch_id),
            timeout_s=timeout,
            on_stall=on_stall,
            on_timeout=lambda current: require_batch(batch_id, current, self.store),
        )

    def _publish(
        self,
        task: str,
        batch_id: str,
        bodies: Mapping[str, Mapping[str, Any]],
        producer: Any | None = None,
    ) -> None:
        # Booked before it is published: a message lost on the way is found and sent again.
        self.state.outstanding.add(batch_id, task, bodies)
        try:
            self.publisher.publish(task, bodies, producer)
        except BrokerError as e:
            raise BrokerError(
                f"{e}; its {len(bodies)} message(s) are booked, and a worker's sweeper sends"
                " them once the broker answers"
            ) from e

    def _reserve(self, batch_id: str, group: list[SourceItem], before: int) -> list[JobSpec]:
        # Validated before ids are reserved: a refused group must not count as pending.
        drafts = [spec_argument(batch_id, item, before + n) for n, item in enumerate(group)]
        indices = self.ledger.reserve(batch_id, len(group))
        return [
            draft.model_copy(update={"job_id": make_job_id(batch_id, index)})
            for index, draft in zip(indices, drafts, strict=True)
        ]


def _chunk(
    batch_id: str, specs: list[JobSpec], *, top_k: int | None, window: WindowOptions | None
) -> tuple[str, dict[str, dict[str, Any]]]:
    """One bulk message holding every spec, named after its first job index."""
    chunk_id = specs[0].job_id.rpartition(":")[2]
    chunk = Chunk(batch_id=batch_id, chunk_id=chunk_id, jobs=specs, top_k=top_k, window=window)
    return CHUNK_TASK, {chunk_key(batch_id, chunk_id): {"chunk": chunk.model_dump(mode="json")}}


def _jobs(
    batch_id: str, specs: list[JobSpec], *, top_k: int | None, window: WindowOptions | None
) -> tuple[str, dict[str, dict[str, Any]]]:
    """One interactive message per spec."""
    jobs = (
        Job(
            **{**dict(spec), "window": spec.window or window},
            batch_id=batch_id,
            top_k=top_k,
        )
        for spec in specs
    )
    return CLASSIFY_TASK, {job.job_id: _job_body(job) for job in jobs}


def _job_body(job: Job) -> dict[str, Any]:
    """The kwargs of one interactive message."""
    return {"job": job.model_dump(mode="json")}


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline
