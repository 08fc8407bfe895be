"""Shared fixtures: the real servers of `tests.servers`, the `workers` list of
`tests.workers`, and the tier guard.

Imported by name rather than listed in ``pytest_plugins``, which pytest refuses in a conftest
below the rootdir (this one sits in tests/, the rootdir is the repository root).

Tiers (pytest markers, ``--strict-markers``): ``worker`` marks a test that starts an earmark
worker process, ``slow`` one that takes long even with short timers; ``make test-fast`` runs
the rest. A test that starts a worker unmarked fails (`tests.workers.start_worker`, which
replaces `scripts.processes.start_worker` for the whole session); one that starts a worker in a
child process (the demo) is marked by hand.
"""

from __future__ import annotations

import pytest

from scripts import processes
from tests.redis_server import redis_client, redis_url
from tests.servers import http_server, s3_client, s3_server
from tests.workers import TierGuard, start_worker, workers

# Every worker the tests start in process, through the bench and scripts too, passes the guard.
processes.start_worker = start_worker

__all__ = ["http_server", "redis_client", "redis_url", "s3_client", "s3_server", "workers"]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Lets a test (and the fixtures it sets up, of any scope) start worker processes only
    when it is marked ``worker``."""
    TierGuard.allowed = item.get_closest_marker("worker") is not None
