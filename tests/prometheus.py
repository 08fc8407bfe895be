"""A real Prometheus server for tests: Debian's ``prometheus`` binary on a free port, scraping
the targets it is given every second, and a client of its query API."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from scripts.processes import free_port, wait_for
from tests.tools import require_tool

T = TypeVar("T")

#: Seconds between scrapes: short, so that a test waits little for its totals.
SCRAPE_INTERVAL_S = 1


@dataclass(frozen=True)
class Prometheus:
    """A running Prometheus: its base URL."""

    base: str

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The instant vector of a PromQL expression: ``[{"metric": {…}, "value": [t, "v"]}]``."""
        url = f"{self.base}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        with urllib.request.urlopen(url, timeout=5) as response:
            answer = json.loads(response.read())
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])

    def values(self, expression: str, label: str) -> dict[str, float]:
        """The expression's samples as {value of `label`: number}."""
        return {
            sample["metric"].get(label, ""): float(sample["value"][1])
            for sample in self.query(expression)
        }

    def ready(self) -> bool:
        """Whether the server answers its readiness endpoint."""
        try:
            with urllib.request.urlopen(f"{self.base}/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False


@contextmanager
def running_prometheus(workdir: Path, targets: list[str]) -> Iterator[Prometheus]:
    """Prometheus scraping ``host:port`` `targets` (job ``earmark``) until the block ends."""
    binary = require_tool("prometheus", package="prometheus")
    config = workdir / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "global": {"scrape_interval": f"{SCRAPE_INTERVAL_S}s"},
                "scrape_configs": [
                    {"job_name": "earmark", "static_configs": [{"targets": targets}]}
                ],
            }
        )
    )
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Prometheus(f"http://127.0.0.1:{port}")
    try:
        wait_for(server.ready, 60, "prometheus")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def settle(read: Callable[[], T], expected: T, timeout: float = 30.0) -> None:
    """Poll `read()` until it equals `expected`; after `timeout` seconds, assert they are equal
    (a scrape or an event may not have landed yet, so a first difference is no failure)."""
    deadline = time.monotonic() + timeout
    while (value := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.25)
    assert value == expected, f"{value!r} != {expected!r}"
