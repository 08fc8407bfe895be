"""Readiness: the parent counts the children that loaded their model, and no more."""

from __future__ import annotations

import os
import time

from worker.service.readiness import ReadinessPipe


def test_parent_counts_children_that_report() -> None:
    pipe = ReadinessPipe()
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:  # a pool child that has loaded its model
            pipe.report_loaded()
            os._exit(0)
        children.append(pid)
    assert pipe.wait(3, timeout_s=10) == 3
    for pid in children:
        os.waitpid(pid, 0)
    pipe.close()


def test_wait_gives_up_on_children_that_never_report() -> None:
    pipe = ReadinessPipe()
    pipe.report_loaded()
    assert pipe.wait(2, timeout_s=0.2) == 1
    pipe.close()


def test_wait_ends_when_the_worker_is_stopping() -> None:
    # Given a child that never reports, when a shutdown begins, the wait ends at once.
    pipe = ReadinessPipe()
    started = time.monotonic()
    assert pipe.wait(1, timeout_s=30, stopping=lambda: time.monotonic() - started > 0.2) == 0
    assert time.monotonic() - started < 5
    assert not pipe.ready()
    pipe.close()
