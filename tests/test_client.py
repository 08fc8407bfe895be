"""The Client: one timeout behaviour, a typed error for every bad argument and for an id
nothing is known under, and ``from producer import Client``."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from producer import Client as ReExported
from producer.client import Client, Submission
from producer.errors import InvalidArgument, NothingToQueue, UnknownId, WaitTimedOut
from producer.settings import Settings


@pytest.fixture
def client(redis_url: str, redis_client: redis.Redis) -> Iterator[Client]:
    yield Client(Settings(broker_url=redis_url, results_url=redis_url))


def test_the_client_is_re_exported() -> None:
    assert ReExported is Client


def test_waiting_on_a_job_times_out_as_waiting_on_a_batch_does(client: Client) -> None:
    """Before, `result(wait=True, timeout=…)` returned None while `iter_results` raised."""
    job_id = client.submit("/data/a.wav")
    batch_id = job_id.rpartition(":")[0]
    assert client.result(job_id) is None  # known, not finished: no wait, no error
    with pytest.raises(WaitTimedOut, match=job_id):
        client.result(job_id, wait=True, timeout=0.3)
    with pytest.raises(WaitTimedOut, match=batch_id):
        list(client.iter_results(batch_id, wait=True, timeout=0.3))
    with pytest.raises(WaitTimedOut):
        list(client.watch(batch_id, timeout=0.3).statuses())


def test_an_unknown_id_is_unknown_id_at_once_or_at_the_timeout(client: Client) -> None:
    for call in (
        lambda: client.status("nosuch"),
        lambda: client.result("nosuch:0"),
        lambda: client.result("nosuch:0", wait=True),  # no timeout: would wait for ever
        lambda: client.iter_results("nosuch"),
        lambda: client.iter_results("nosuch", wait=True),
        lambda: client.watch("nosuch"),
        lambda: client.check_known("nosuch:3"),
        # With a timeout, a producer that skips the reservation may still show up: the wait
        # runs, then says the id is unknown rather than that the wait timed out.
        lambda: client.result("nosuch:0", wait=True, timeout=0.3),
        lambda: list(client.iter_results("nosuch", wait=True, timeout=0.3)),
    ):
        with pytest.raises(UnknownId, match="nothing is known under that"):
            call()
    batch = client.submit_many(["/data/a.wav"]).batch_id
    with pytest.raises(UnknownId, match=f"{batch}:0 to {batch}:0"):
        client.result(f"{batch}:1")


def test_an_empty_submission_is_refused_unless_allowed(client: Client) -> None:
    with pytest.raises(NothingToQueue, match="allow_empty"):
        client.submit_many([], batch_id="none")
    with pytest.raises(UnknownId):
        client.status("none")  # nothing was reserved
    assert client.submit_many([], batch_id="none", allow_empty=True) == Submission("none", 0)
    status = client.status("none")
    assert (status.total, status.pending) == (0, 0)
    assert list(client.iter_results("none", wait=True, timeout=5)) == []


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


#: Bad arguments to each public method, and the argument the message must name.
BAD_CALLS: list[tuple[str, Callable[[Client], Any], str]] = [
    ("submit top_k", lambda c: c.submit("/a.wav", top_k=-1), "top_k"),
    ("submit top_k bool", lambda c: c.submit("/a.wav", top_k=True), "top_k"),
    ("submit ref empty", lambda c: c.submit(""), "ref"),
    ("submit ref type", lambda c: c.submit(7), "ref"),  # type: ignore[arg-type]
    ("submit ref long", lambda c: c.submit("/" + "x" * 5000), "ref"),
    ("submit meta deep", lambda c: c.submit("/a.wav", meta={"a": _nested(20)}), "meta"),
    ("submit meta nan", lambda c: c.submit("/a.wav", meta={"x": math.nan}), "meta"),
    ("submit meta type", lambda c: c.submit("/a.wav", meta=[1]), "meta"),  # type: ignore[arg-type]
    ("submit batch_id", lambda c: c.submit("/a.wav", batch_id="b@d"), "batch_id"),
    ("submit window", lambda c: c.submit("/a.wav", window={"window_s": 0}), "window"),
    ("submit window hop", lambda c: c.submit("/a", window={"window_s": 1, "hop_s": 2}), "window"),
    ("submit window type", lambda c: c.submit("/a.wav", window=1.0), "window"),  # type: ignore[arg-type]
    ("submit_many top_k", lambda c: c.submit_many(["/a.wav"], top_k=-1), "top_k"),
    ("submit_many chunk", lambda c: c.submit_many(["/a.wav"], chunk_size=0), "chunk_size"),
    ("submit_many item", lambda c: c.submit_many(["/a.wav", 7]), "items[1]"),  # type: ignore[list-item]
    ("submit_many ref", lambda c: c.submit_many(["/a.wav", ""]), "items[1]: ref"),
    ("submit_many batch_id", lambda c: c.submit_many(["/a.wav"], batch_id=""), "batch_id"),
    ("submit_many window", lambda c: c.submit_many(["/a"], window={"window_s": "1"}), "window"),
    ("status", lambda c: c.status("bad id!"), "batch_id"),
    ("status type", lambda c: c.status(7), "batch_id"),  # type: ignore[arg-type]
    ("result", lambda c: c.result("nocolon"), "job_id"),
    ("result index", lambda c: c.result("b:-1"), "job_id"),
    ("result timeout", lambda c: c.result("b:0", wait=True, timeout=-1), "timeout"),
    ("result timeout nan", lambda c: c.result("b:0", wait=True, timeout=math.nan), "timeout"),
    ("iter_results", lambda c: c.iter_results("bad id!"), "batch_id"),
    ("iter_results timeout", lambda c: c.iter_results("b", wait=True, timeout="1"), "timeout"),  # type: ignore[arg-type]
    ("watch", lambda c: c.watch("bad id!"), "batch_id"),
    ("watch timeout", lambda c: c.watch("b", timeout=-5), "timeout"),
    ("check_known", lambda c: c.check_known("b@d:0"), "job_id"),
    ("timeline", lambda c: c.timeline("nocolon"), "job_id"),
    ("timeline timeout", lambda c: c.timeline("b:0", wait=True, timeout=-1), "timeout"),
    ("replay", lambda c: c.replay({"job_id": "b:0"}), "job"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(
    ("call", "named"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
def test_every_bad_argument_is_an_invalid_argument_naming_it(
    client: Client, redis_client: redis.Redis, call: Callable[[Client], Any], named: str
) -> None:
    """Before, `submit(top_k=-1)` raised pydantic's ValidationError, a bad id InvalidId, a bad
    timeout nothing at all (a wait for ever, or TypeError)."""
    with pytest.raises(InvalidArgument) as refused:
        call(client)
    message = str(refused.value)
    assert message.startswith(f"{named}: ") or f" {named}: " in message, message
    assert "\n" not in message and "pydantic" not in message
    assert redis_client.llen("earmark.interactive") == redis_client.llen("earmark.bulk") == 0


def test_a_reference_no_worker_can_read_is_queued_to_get_its_own_record(client: Client) -> None:
    """One bad input fails alone: the worker answers it with an invalid_ref record (the
    command line refuses a manifest holding one before sending anything instead)."""
    submission = client.submit_many(["/a.wav", "ftp://h/a.wav", "http://[::1/x"])
    assert submission.jobs == 3


def test_every_public_method_is_covered_by_the_bad_argument_table() -> None:
    public = {name for name, _ in inspect.getmembers(Client, inspect.isfunction)}
    public = {name for name in public if not name.startswith("_")}
    covered = {case[0].split()[0] for case in BAD_CALLS}
    assert public == covered
