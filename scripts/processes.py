"""Child processes: `earmark worker` in its own group, and free ports for private servers.

Shared by the demo, the end-to-end tests and the benchmarks (`scripts/redis_server.py` starts
their private Redis).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Seconds a worker may take to load its model and say it is ready.
READY_TIMEOUT_S = 60.0
#: The port of the machine's own Redis, which nothing here may take.
SYSTEM_REDIS_PORT = 6379


@dataclass
class WorkerProcess:
    """One `earmark worker` process group and the log it writes."""

    process: subprocess.Popen[bytes]
    log: Path

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Block until the worker logs that every process has its model loaded."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if "earmark: ready," in text:
                return
            self.check()
            time.sleep(0.1)
        raise TimeoutError(f"worker not ready:\n{self.log.read_text(errors='replace')[-3000:]}")

    def check(self) -> None:
        """RuntimeError with the log's tail when the worker has exited."""
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"worker exited ({self.process.returncode}):\n{tail}")

    def stop(self) -> int:
        """SIGTERM the group (a warm shutdown), then SIGKILL whatever is left after 20 s."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def start_worker(env: dict[str, str], log: Path, *args: str) -> WorkerProcess:
    """Start `earmark worker` in its own process group with ``env`` added to this one's."""
    command = [sys.executable, "-m", "producer.cli", "worker", *args]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return WorkerProcess(process, log)


def free_port() -> int:
    """A free TCP port of 127.0.0.1 below the ephemeral range, never the system Redis's.

    Below the range so that no outgoing connection takes it while its server is down, and no
    client retrying it connects to itself (Linux pairs a connect to a free ephemeral port with
    itself now and then): a server restarted on its port finds it free.
    """
    low = _ephemeral_low()
    for _ in range(1000):
        port = random.randrange(10_000, low)
        if port == SYSTEM_REDIS_PORT:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port of 127.0.0.1 between 10000 and {low}")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def wait_for(ready: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `ready` every 0.1 s; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")
