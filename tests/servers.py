"""Real servers for tests, as session-scoped pytest fixtures (loaded from conftest as a plugin).

- `http_server`: the standard library's ``ThreadingHTTPServer`` on 127.0.0.1, serving a temp
  folder under ``/files/`` plus routes that misbehave on purpose (redirects, errors, a body
  larger than any cap, a trickle).
- `s3_server`: moto's S3 API as a real HTTP server on 127.0.0.1 (``ThreadedMotoServer``): an
  S3-compatible server, used because it starts in half a second; `s3_client` is a boto3 client
  for it with moto's fake credentials, never real ones.
"""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

#: Bytes per write when streaming a large body.
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class HttpServer:
    """A running test HTTP server: its base URL and the folder it serves under ``/files/``."""

    base: str
    root: Path

    def url(self, path: str) -> str:
        """An absolute URL for `path` (which starts with ``/``)."""
        return self.base + path


class _Handler(BaseHTTPRequestHandler):
    """Routes: /files/NAME, /redirect?to=URL, /loop/N, /status/CODE, /large/N,
    /declared/N (claims N bytes, sends few), /trickle/MS (a byte every MS ms), /auth,
    /silent/S (says nothing for S seconds, then hangs up),
    /flaky/KEY?fail=N&file=NAME (503 for the first N requests of KEY, then the file)."""

    root: Path
    #: Requests seen per /flaky key, shared by the server's threads.
    flaky_counts: ClassVar[dict[str, int]] = {}

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        route, _, arg = unquote(parts.path).strip("/").partition("/")
        # The client may hang up early: the caps and timeouts under test make it do so.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            getattr(self, f"_{route}", self._not_found)(arg, parse_qs(parts.query))

    def _files(self, name: str, _: Any) -> None:
        path = self.root / name
        if not path.is_file():
            return self._not_found(name, _)
        self._send(200, path.read_bytes())

    def _flaky(self, key: str, query: dict[str, list[str]]) -> None:
        seen = self.flaky_counts[key] = self.flaky_counts.get(key, 0) + 1
        if seen <= int(query["fail"][0]):
            return self._send(503, b"try again")
        self._files(query["file"][0], query)

    def _redirect(self, _: str, query: dict[str, list[str]]) -> None:
        self._send(302, b"", Location=query["to"][0])

    def _loop(self, n: str, _: Any) -> None:
        self._send(302, b"", Location=f"/loop/{int(n) + 1}")

    def _status(self, code: str, _: Any) -> None:
        self._send(int(code), f"status {code}".encode())

    def _large(self, size: str, _: Any) -> None:
        self.send_response(200)  # no Content-Length: the cap must hold while streaming
        self.end_headers()
        for start in range(0, int(size), _CHUNK):
            self.wfile.write(bytes(min(_CHUNK, int(size) - start)))

    def _declared(self, size: str, _: Any) -> None:
        self.send_response(200)
        self.send_header("Content-Length", size)
        self.end_headers()
        self.wfile.write(bytes(1024))

    def _trickle(self, ms: str, _: Any) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        for _i in range(100):
            self.wfile.write(b"x")
            self.wfile.flush()
            time.sleep(int(ms) / 1000)

    def _silent(self, seconds: str, _: Any) -> None:
        time.sleep(float(seconds))  # a server that accepts and never answers

    def _auth(self, _: str, __: Any) -> None:
        self._send(200, self.headers.get("Authorization", "").encode())

    def _not_found(self, _: str, __: Any) -> None:
        self._send(404, b"not found")

    def _send(self, code: int, body: bytes, **headers: str) -> None:
        self.send_response(code)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows failures, not access logs."""


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """A real HTTP server on 127.0.0.1 (a free port) in a thread, for the whole session."""
    root = tmp_path_factory.mktemp("http_root")
    handler = type("Handler", (_Handler,), {"root": root})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True  # a trickle in progress must not hold up shutdown
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HttpServer(f"http://127.0.0.1:{server.server_address[1]}", root)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3-compatible server on 127.0.0.1 (a free port); yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_server: str) -> Any:
    """A boto3 S3 client for `s3_server`, holding moto's fake credentials (no real ones)."""
    import boto3  # type: ignore[import-untyped,unused-ignore]
    from botocore.config import Config  # type: ignore[import-untyped,unused-ignore]

    return boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="moto-fake-access-key",
        aws_secret_access_key="moto-fake-secret-key",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )


def http_get(url: str) -> tuple[int, str]:
    """The status and body of a GET, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
