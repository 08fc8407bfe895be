"""A FAKE Hugging Face Hub: the real Hub cannot be reached from the test machines.

It speaks the part of the Hub's file API that ``huggingface_hub.hf_hub_download`` uses
(``HEAD``/``GET /{repo_id}/resolve/{revision}/{path}``, answered with ``X-Repo-Commit``,
``ETag`` and ``Content-Length``, and 404s carrying ``X-Error-Code`` as the Hub sends them), so
the download code under test is huggingface_hub's own, pointed here with ``HF_ENDPOINT``. It
serves the real files of a committed test model, at two commits, and records every request.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

#: The fake repository's id, as the Hub spells one.
REPO_ID = "earmark-test/tiny-ks"
#: The commit `main` points at; its config says so in ``_name_or_path``.
MAIN_COMMIT = "a" * 40
#: An older commit, reachable by its hash or the tag ``v1``.
V1_COMMIT = "b" * 40


@dataclass(frozen=True)
class HubRequest:
    """One request the fake Hub answered."""

    method: str
    path: str
    authorization: str | None
    status: int


@dataclass
class FakeHub:
    """The fake Hub's contents and what it was asked; `token` makes its repository private."""

    #: commit → file path in the repository → bytes.
    commits: dict[str, dict[str, bytes]]
    #: branch or tag → commit.
    refs: dict[str, str]
    token: str | None = None
    requests: list[HubRequest] = field(default_factory=list)
    endpoint: str = ""

    def downloads(self) -> list[str]:
        """The repository paths whose bytes were sent (GETs answered 200)."""
        return [r.path for r in self.requests if r.method == "GET" and r.status == 200]


def model_commits(folder: Path) -> dict[str, dict[str, bytes]]:
    """Two commits of the model in `folder`: main as it is, v1 with a config marked as older."""
    files = {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    older = dict(files)
    older["config.json"] = files["config.json"].replace(b"{", b'{"earmark_revision": "v1", ', 1)
    return {MAIN_COMMIT: files, V1_COMMIT: older}


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, *, body: bool) -> None:
        status, headers, content, path = self._resolve()
        self.hub.requests.append(
            HubRequest(self.command, path, self.headers.get("Authorization"), status)
        )
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if body:
            self.wfile.write(content)

    def _resolve(self) -> tuple[int, dict[str, str], bytes, str]:
        # /{org}/{name}/resolve/{revision}/{path...}
        parts = unquote(urlsplit(self.path).path).strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return 404, {"X-Error-Code": "RepoNotFound"}, b"{}", self.path
        repo, revision, path = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
        if repo != REPO_ID:
            return 404, {"X-Error-Code": "RepoNotFound"}, b'{"error": "no such repo"}', path
        if self.hub.token and self.headers.get("Authorization") != f"Bearer {self.hub.token}":
            return 401, {"X-Error-Code": "RepoNotFound"}, b'{"error": "private"}', path
        commit = self.hub.refs.get(revision, revision)
        if commit not in self.hub.commits:
            return 404, {"X-Error-Code": "RevisionNotFound"}, b'{"error": "no revision"}', path
        content = self.hub.commits[commit].get(path)
        if content is None:
            headers = {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit}
            return 404, headers, b'{"error": "no entry"}', path
        etag = hashlib.sha256(content).hexdigest()
        return 200, {"X-Repo-Commit": commit, "ETag": f'"{etag}"'}, content, path

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads `FakeHub.requests` instead."""


@contextmanager
def fake_hub(folder: Path, *, token: str | None = None) -> Iterator[FakeHub]:
    """A fake Hub on a free port of 127.0.0.1 serving the model in `folder` as `REPO_ID`."""
    hub = FakeHub(model_commits(folder), {"main": MAIN_COMMIT, "v1": V1_COMMIT}, token)
    handler = type("Handler", (_Handler,), {"hub": hub})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    hub.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
