"""Retry policy: retryable errors are retried with bounded backoff; permanent ones are not."""

from __future__ import annotations

import pytest

from producer.errors import FetchError, NotFound
from producer.settings import Settings
from tests.models import model_dir
from worker.retry import DEFAULT_RETRY, RetryPolicy, fetch_retry


def _flaky(failures: int, error: Exception) -> tuple[list[int], object]:
    calls: list[int] = []

    def action() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise error
        return "ok"

    return calls, action


def test_retryable_errors_are_retried_until_success() -> None:
    calls, action = _flaky(2, FetchError("503"))
    sleeps: list[float] = []
    assert RetryPolicy(attempts=4).call(action, sleep=sleeps.append) == "ok"  # type: ignore[arg-type]
    assert len(calls) == 3 and len(sleeps) == 2


def test_attempts_are_bounded() -> None:
    calls, action = _flaky(10, FetchError("503"))
    with pytest.raises(FetchError):
        RetryPolicy(attempts=3).call(action, sleep=lambda _: None)  # type: ignore[arg-type]
    assert len(calls) == 3


def test_permanent_errors_are_not_retried() -> None:
    calls, action = _flaky(10, NotFound("gone"))
    with pytest.raises(NotFound):
        RetryPolicy(attempts=5).call(action, sleep=lambda _: None)  # type: ignore[arg-type]
    assert len(calls) == 1


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(base_s=0.5, cap_s=3.0)
    assert [policy.delay(n, draw=lambda: 1.0) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert [policy.delay(n, draw=lambda: 0.0) for n in range(5)] == [0.25, 0.5, 1.0, 1.5, 1.5]


def test_the_default_rides_out_a_ten_second_outage() -> None:
    least = sum(DEFAULT_RETRY.delay(n, draw=lambda: 0.0) for n in range(DEFAULT_RETRY.attempts - 1))
    assert least >= 10.0


def test_no_try_starts_past_the_deadline() -> None:
    """With a deadline, a retry whose wait would end past it is not made: the last error rises.
    On a virtual clock that only the pauses move, so a loaded machine cannot oversleep it."""
    policy = RetryPolicy(attempts=10, base_s=0.1, cap_s=1.0)
    now = [100.0]
    tries: list[float] = []

    def failing() -> None:
        tries.append(now[0])
        raise FetchError("503")

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(FetchError):
        policy.call(failing, sleep, deadline=100.5, clock=lambda: now[0])
    assert 2 <= len(tries) < policy.attempts
    assert tries[-1] < 100.5 and now[0] < 100.5  # no try, and no sleep, past the deadline


def test_the_settings_give_a_pipelines_fetch_its_retries() -> None:
    """EARMARK_FETCH_ATTEMPTS and _RETRY_BASE_S reach the loader a worker builds (test workers
    shorten them); the defaults are DEFAULT_RETRY's."""
    from worker.classification import pipeline

    short = Settings(local_roots="/", fetch_attempts=3, fetch_retry_base_s=0.1)
    classify = pipeline(model=str(model_dir("wav2vec2")), dtype="fp32", settings=short)
    assert (classify.loader.retry.attempts, classify.loader.retry.base_s) == (3, 0.1)
    assert fetch_retry(Settings(local_roots="/")) == DEFAULT_RETRY
