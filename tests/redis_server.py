"""Private redis-servers for tests (started by `scripts.redis_server`, the one starter).

- `redis_url`: one server for the whole session, no persistence; yields ``redis://…/0``.
- `redis_client`: a client for it, the server flushed before each test.
- `running_redis`: a context manager for a test that needs a server of its own, e.g. to kill it.
- `counting_client`: a client whose real connections count their socket writes (round trips).
- `start_redis(..., user=, password=, tls=)`: a server that wants an ACL user (or the default
  user's password) and speaks TLS only; `make_tls_files` makes a throwaway CA for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
import redis

from scripts.redis_server import TlsFiles, running_redis


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
