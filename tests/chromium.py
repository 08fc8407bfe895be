"""Headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``):
no WebSocket library, no port. `open_page` loads a page and reports what the browser saw.

The protocol is JSON messages separated by NUL bytes; Chromium reads commands on its fd 3 and
writes answers and events on its fd 4.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.tools import require_tool

#: The flags every test browser runs with: nothing fetched in the background, no sandbox (CI
#: containers run as root), a throwaway profile.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
    "--window-size=900,1000",
]


@dataclass
class PageVisit:
    """What a page did when loaded: console errors, requests, a value and a screenshot."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    value: Any = None
    png: bytes = b""


def chromium() -> str:
    """The Chromium binary (Debian's `chromium`)."""
    return require_tool("chromium", "chromium-browser", package="chromium")


def open_page(url: str, expression: str, profile: Path, timeout_s: float = 30.0) -> PageVisit:
    """Load `url`, evaluate `expression` (its JSON value is kept), take a screenshot; the
    browser's own log goes to ``chromium.log`` beside `profile`."""
    log = (profile.parent / "chromium.log").open("wb")
    to_child, from_parent = _high(os.pipe())
    to_parent, from_child = _high(os.pipe())
    # The child's ends become its fds 3 and 4 (they are numbered 10 and up: no clash).
    shell = f'exec "$0" "$@" 3<&{to_child} 4>&{from_child} {to_child}<&- {from_child}>&-'
    args = [chromium(), *FLAGS, f"--user-data-dir={profile}", "about:blank"]
    process = subprocess.Popen(
        ["bash", "-c", shell, *args],  # bash: dash refuses fds above 9
        pass_fds=(to_child, from_child),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    os.close(to_child)
    os.close(from_child)
    session = _Session(from_parent, to_parent, time.monotonic() + timeout_s)
    try:
        return session.visit(url, expression)
    finally:
        os.close(from_parent)
        os.close(to_parent)
        process.kill()
        process.wait(timeout=10)
        log.close()


def _high(fds: tuple[int, int]) -> tuple[int, int]:
    """The same pipe ends, renumbered to 10 or above (and not inherited unless passed)."""
    moved = tuple(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in fds)
    for fd in fds:
        os.close(fd)
    return moved[0], moved[1]


class _Session:
    def __init__(self, write_fd: int, read_fd: int, deadline: float) -> None:
        self.write_fd, self.read_fd, self.deadline = write_fd, read_fd, deadline
        self.buffer, self.events, self.next_id = b"", list[dict[str, Any]](), 0
        self.session_id: str | None = None

    def visit(self, url: str, expression: str) -> PageVisit:
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        attached = self.call("Target.attachToTarget", targetId=target, flatten=True)
        self.session_id = attached["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.call(f"{domain}.enable")
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        visit = PageVisit()
        answer = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            visit.errors.append(f"evaluate: {answer['exceptionDetails']}")
        visit.value = answer.get("result", {}).get("value")
        shot = self.call("Page.captureScreenshot", format="png")
        visit.png = base64.b64decode(shot["data"])
        self._collect(visit)
        return visit

    def _collect(self, visit: PageVisit) -> None:
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                visit.errors.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                visit.errors.append(json.dumps(params["args"])[:500])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                visit.errors.append(params["entry"]["text"])
            elif method == "Network.requestWillBeSent":
                visit.requests.append(params["request"]["url"])

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if self.session_id is not None:
            message["sessionId"] = self.session_id
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result
            self.events.append(reply)

    def wait_for(self, method: str) -> None:
        while not any(event.get("method") == method for event in self.events):
            self.events.append(self._read())

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            if time.monotonic() > self.deadline:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed
