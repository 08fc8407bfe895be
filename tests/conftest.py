"""Shared fixtures: the real servers of `tests.servers`, the `workers` list of
`tests.workers`, `earmark` (the command line in this process), and the tier guard.

Imported by name rather than listed in ``pytest_plugins``, which pytest refuses in a conftest
below the rootdir (this one sits in tests/, the rootdir is the repository root).

Tiers (pytest markers, ``--strict-markers``): ``worker`` marks a test that starts an earmark
worker process, ``slow`` one that takes long even with short timers, ``process`` one that runs
the ``earmark`` command in a child process (what only a real process shows: the exit status a
shell sees, signals, the modules a command imports); ``make test-fast`` runs the rest. Every
other command-line check runs ``earmark`` in this process through the `earmark` fixture.
A test that starts a worker unmarked fails (`tests.workers.start_worker`, which replaces
`scripts.processes.start_worker` for the whole session); one that starts a worker in a child
process (the demo) is marked by hand.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import Protocol

import pytest

from scripts import processes
from tests.redis_server import redis_client, redis_url
from tests.servers import http_server, s3_client, s3_server
from tests.workers import TierGuard, start_worker, workers

# Every worker the tests start in process, through the bench and scripts too, passes the guard.
processes.start_worker = start_worker

__all__ = [
    "earmark",
    "http_server",
    "redis_client",
    "redis_url",
    "s3_client",
    "s3_server",
    "workers",
]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Lets a test (and the fixtures it sets up, of any scope) start worker processes only
    when it is marked ``worker``."""
    TierGuard.allowed = item.get_closest_marker("worker") is not None


@dataclass(frozen=True)
class Ran:
    """What `earmark ARGS` printed and exited with: a `subprocess.CompletedProcess`'s fields."""

    returncode: int
    stdout: str
    stderr: str


class Earmark(Protocol):
    def __call__(self, *args: str, **env: str) -> Ran: ...


@pytest.fixture
def earmark(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> Earmark:
    """`earmark ARGS` run in this process, with `env` and none of this process's EARMARK_
    variables: `producer.cli.main` itself (the command registration, the exception-to-exit-code
    mapping, the one-line errors), its exit status and its output at the file descriptors, in
    milliseconds instead of a child process's second of imports.

    As in a child process, log records of WARNING and above reach stderr (Python's last-resort
    handler there; pytest's own handlers here) and nothing is a terminal. What only a real
    process shows is marked ``process`` and runs `python -m producer.cli`."""
    from producer.cli import root

    # main() registers the commands on the module's app each time it runs.
    commands, groups = list(root.app.registered_commands), list(root.app.registered_groups)
    given: set[str] = set()

    def run(*args: str, **env: str) -> Ran:
        for name in [n for n in os.environ if n.startswith("EARMARK_") or n in given]:
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        given.update(env)
        monkeypatch.setattr(sys, "argv", ["earmark", *args])
        monkeypatch.setattr(root.app, "registered_commands", list(commands))
        monkeypatch.setattr(root.app, "registered_groups", list(groups))
        monkeypatch.setattr(root, "_debug", False)
        capfd.readouterr()
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        logging.getLogger().addHandler(handler)
        try:
            root.main()
        except SystemExit as e:
            code = e.code
        else:
            raise AssertionError("earmark returned without an exit status")
        finally:
            logging.getLogger().removeHandler(handler)
        out, err = capfd.readouterr()
        if isinstance(code, str):  # sys.exit(message), as the interpreter reports it
            return Ran(1, out, err + code + "\n")
        return Ran(code or 0, out, err)

    return run
