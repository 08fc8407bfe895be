"""The batch ledger and job ids, against a private real Redis."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from redis.backoff import NoBackoff
from redis.retry import Retry

from producer.errors import StoreError
from producer.ids import batch_of, check_batch_id, make_job_id, new_batch_id, split_job_id
from producer.records import ErrorInfo, Label, ResultRecord
from producer.state.keys import batch_key, finished_key
from producer.state.ledger import BatchStatus, Ledger
from scripts.redis_server import running_redis
from tests.redis_server import CountingConnection, counting_client


def finished(batch: str, index: int, *, failed: bool = False) -> ResultRecord:
    """A finished job's record: an error when `failed`."""
    if failed:
        error = ErrorInfo(code="not_found", message="no such object")
        return ResultRecord(
            job_id=f"{batch}:{index}", batch_id=batch, input="x", status="error", error=error
        )
    labels = [Label(label="yes", score=0.9)]
    return ResultRecord(
        job_id=f"{batch}:{index}", batch_id=batch, input="x", status="ok", labels=labels
    )


@pytest.fixture
def ledger(redis_client: redis.Redis) -> Ledger:
    """A ledger on the session's private Redis, flushed."""
    return Ledger(redis_client, ttl_s=600)


# --- ids ------------------------------------------------------------------------------------------

batch_ids = st.text(alphabet="abcXYZ019_.-", min_size=1, max_size=128).filter(
    lambda s: s not in (".", "..")
)


@given(batch_ids, st.integers(min_value=0, max_value=10**18 - 1))
def test_job_ids_split_back_into_batch_and_index(batch: str, index: int) -> None:
    job_id = make_job_id(batch, index)
    assert split_job_id(job_id) == (batch, index)
    assert batch_of(job_id) == batch


@pytest.mark.parametrize(
    "batch", ["", ".", "..", "a/b", "a:b", "a b", "ü", "x" * 129, "../etc", "a\x00"]
)
def test_bad_batch_ids_are_refused(batch: str) -> None:
    with pytest.raises(ValueError, match="batch id"):
        check_batch_id(batch)


@pytest.mark.parametrize("job_id", ["b", "b:", ":1", "b:-1", "b:01", "b:1.0", "b: 1", "a/b:1"])
def test_bad_job_ids_are_refused(job_id: str) -> None:
    with pytest.raises(ValueError):
        split_job_id(job_id)


def test_new_batch_ids_are_valid_and_fresh() -> None:
    ids = {new_batch_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(check_batch_id(batch) for batch in ids)


# --- reserve --------------------------------------------------------------------------------------


def test_reserve_hands_out_consecutive_ranges(ledger: Ledger) -> None:
    assert ledger.reserve("b", 3) == range(0, 3)
    assert ledger.reserve("b", 2) == range(3, 5)
    assert ledger.reserve("b", 0) == range(5, 5)
    assert ledger.reserve("other", 1) == range(0, 1)
    assert ledger.status("b").total == 5


def test_concurrent_reserves_never_overlap(ledger: Ledger) -> None:
    # Given 8 threads each reserving 25 times
    with ThreadPoolExecutor(8) as pool:
        ranges = list(pool.map(lambda n: ledger.reserve("b", n % 5 + 1), range(200)))
    # Then the ranges tile 0..total exactly
    indices = [index for r in ranges for index in r]
    assert sorted(indices) == list(range(len(indices)))
    assert ledger.status("b").total == len(indices) == sum(n % 5 + 1 for n in range(200))


def test_reserve_refuses_bad_input(ledger: Ledger) -> None:
    with pytest.raises(ValueError):
        ledger.reserve("b", -1)
    with pytest.raises(ValueError):
        ledger.reserve("a:b", 1)


# --- finish and status ----------------------------------------------------------------------------


def test_finish_counts_each_job_once(ledger: Ledger) -> None:
    ledger.reserve("b", 10)
    records = [finished("b", i, failed=i in (2, 5, 7)) for i in range(6)]
    assert ledger.finish(records) == 6
    assert ledger.finish(records) == 0  # a redelivered batch
    assert ledger.finish([*records, finished("b", 8), finished("b", 8)]) == 1
    assert ledger.status("b") == BatchStatus(batch_id="b", total=10, done=7, failed=2, pending=3)


def test_finish_handles_several_batches_in_one_call(ledger: Ledger) -> None:
    ledger.reserve("a", 2)
    ledger.reserve("b", 2)
    assert ledger.finish([finished("a", 0), finished("b", 1, failed=True), finished("a", 1)]) == 3
    assert ledger.status("a") == BatchStatus(batch_id="a", total=2, done=2, failed=0, pending=0)
    assert ledger.status("b") == BatchStatus(batch_id="b", total=2, done=1, failed=1, pending=1)


def test_finish_is_one_round_trip(redis_url: str, redis_client: redis.Redis) -> None:
    ledger = Ledger(counting_client(redis_url))
    ledger.finish([finished("warm", 0)])  # the first call may load the script
    CountingConnection.writes = 0
    assert ledger.finish([finished("b", i, failed=i % 3 == 0) for i in range(256)]) == 256
    assert CountingConnection.writes == 1


def test_finish_refuses_records_without_usable_ids(ledger: Ledger) -> None:
    no_id = finished("b", 0).model_copy(update={"job_id": None})
    with pytest.raises(ValueError):
        ledger.finish([finished("b", 1), no_id])
    mismatched = finished("b", 2).model_copy(update={"batch_id": "c"})
    with pytest.raises(ValueError):
        ledger.finish([mismatched])
    assert ledger.status("b").done == 0  # nothing counted: ids are checked first
    assert ledger.finish([]) == 0


def test_status_of_an_unknown_batch_is_zeros_with_pending_unknown(ledger: Ledger) -> None:
    """A batch nobody reserved (a typo, expired, or a producer that skipped the reservation)
    is never reported complete: earmark cannot know what is still queued."""
    assert ledger.status("never") == BatchStatus(
        batch_id="never", total=0, done=0, failed=0, pending=None
    )


def test_jobs_finished_without_a_reservation_leave_pending_unknown(ledger: Ledger) -> None:
    """Before, a foreign producer's batch read {"total": 0, "done": 1, "pending": 0}: a false
    completion while its other jobs were still queued."""
    ledger.finish([finished("unreserved", 0)])
    assert ledger.status("unreserved").pending is None
    ledger.reserve("partly", 1)
    ledger.finish([finished("partly", 0), finished("partly", 1)])
    assert ledger.status("partly").pending is None
    ledger.reserve("whole", 2)
    ledger.finish([finished("whole", 0)])
    assert ledger.status("whole").pending == 1


def test_is_finished(ledger: Ledger) -> None:
    ledger.reserve("b", 2)
    ledger.finish([finished("b", 0)])
    assert ledger.is_finished("b:0")
    assert not ledger.is_finished("b:1")
    assert not ledger.is_finished("other:0")


def test_keys_expire_and_writes_refresh_them(redis_client: redis.Redis) -> None:
    Ledger(redis_client, ttl_s=100).reserve("b", 2)
    assert 0 < int(redis_client.ttl(batch_key("b"))) <= 100
    Ledger(redis_client, ttl_s=5000).finish([finished("b", 0)])
    for key in (batch_key("b"), finished_key("b")):
        assert 100 < int(redis_client.ttl(key)) <= 5000


def test_a_stopped_redis_is_a_store_error(tmp_path: Path) -> None:
    with running_redis(tmp_path) as server:
        client = redis.Redis.from_url(
            server.url, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )
        ledger = Ledger(client)
        ledger.reserve("b", 1)
        server.stop()
        actions: list[Callable[[], object]] = [
            lambda: ledger.reserve("b", 1),
            lambda: ledger.finish([finished("b", 0)]),
            lambda: ledger.status("b"),
            lambda: ledger.is_finished("b:0"),
        ]
        for action in actions:
            with pytest.raises(StoreError, match="ConnectionError") as raised:
                action()
            assert raised.value.retryable
