"""A private redis-server for tests, on a free port of 127.0.0.1 (never the machine's 6379).

- `redis_url`: one server for the whole session, no persistence; yields ``redis://…/0``.
- `redis_client`: a client for it, the server flushed before each test.
- `running_redis`: a context manager for a test that needs a server of its own, e.g. to kill it.
- `counting_client`: a client whose real connections count their socket writes (round trips).
- `start_redis(..., user=, password=, tls=)`: a server that wants an ACL user (or the default
  user's password) and speaks TLS only; `make_tls_files` makes a throwaway CA for it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from scripts.processes import free_port, redis_binary

#: Seconds to wait for a fresh server to answer PING.
_START_TIMEOUT_S = 10.0
#: Tries at starting a server, in case another process takes the free port first.
_START_TRIES = 3


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
    for _ in range(_START_TRIES):
        chosen = port or free_port()
        log = workdir / f"redis-{chosen}.log"
        command = [redis_binary(), *_listen_args(chosen, tls), "--bind", "127.0.0.1", "--save", ""]
        command += ["--dir", str(workdir), "--logfile", str(log)]
        aof = ["--appendonly", "yes", "--appendfsync", "always"] if persistent else []
        command += aof or ["--appendonly", "no"]
        command += _auth_args(user, password)
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        server = RedisServer(process, chosen, user, password, tls)
        if _wait_for_ping(server):
            return server
        server.stop()
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"redis-server did not start on 127.0.0.1:{chosen}:\n{tail}")


def make_tls_files(folder: Path) -> TlsFiles:
    """A new CA and a certificate for 127.0.0.1 signed by it, written to `folder` as PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def build(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> x509.Certificate:
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = [x509.IPAddress(IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    server_key = ec.generate_private_key(ec.SECP256R1())
    ca = build("earmark test CA", ca_key, "earmark test CA", ca_key, True)
    server = build("127.0.0.1", server_key, "earmark test CA", ca_key, False)
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
    pem = serialization.Encoding.PEM
    files.ca.write_bytes(ca.public_bytes(pem))
    files.cert.write_bytes(server.public_bytes(pem))
    plain = serialization.NoEncryption()
    files.key.write_bytes(server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, plain))
    return files


@contextmanager
def running_redis(workdir: Path) -> Iterator[RedisServer]:
    """A private server for the duration of a ``with`` block."""
    server = start_redis(workdir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a private redis-server shared by the whole session."""
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client of the session's private server, flushed before the test."""
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    try:
        yield client
    finally:
        client.close()


class CountingConnection(redis.Connection):
    """A real connection that counts its writes: a pipeline or a script call is one write."""

    writes = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        """Count, then send as usual."""
        CountingConnection.writes += 1
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]


def counting_client(url: str) -> redis.Redis:
    """A client of `url` whose connections add to ``CountingConnection.writes``."""
    client = redis.Redis.from_url(url, connection_class=CountingConnection)
    client.ping()  # connect (and say HELLO) before the test starts counting
    CountingConnection.writes = 0
    return client


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
    deadline = time.monotonic() + _START_TIMEOUT_S
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
