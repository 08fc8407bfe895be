"""The worker's periodic threads: a failing call waits for the next one, never ends the thread."""

from __future__ import annotations

import threading

import redis

from worker.service.periodic import Periodic


def test_a_failing_action_does_not_stop_the_thread() -> None:
    calls: list[int] = []
    done = threading.Event()

    def action() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise redis.ConnectionError("the broker is restarting")
        if len(calls) == 2:
            raise RuntimeError("a bug")
        done.set()

    periodic = Periodic("test", 0.01, action)
    thread = periodic.start()
    assert done.wait(5.0), calls
    periodic.stop()
    thread.join(5.0)
    assert not thread.is_alive()
    assert len(calls) >= 3
