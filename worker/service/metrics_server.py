"""The worker's one HTTP endpoint, served by the parent: ``/metrics`` and ``/healthz``.

``/metrics`` adds up what every pool process wrote into the metrics folder
(worker/service/metrics_values.py) and reads the queue lengths and the dead-letter list from
Redis at scrape time. ``/healthz`` answers 200 only once every pool process has its model
loaded and while the broker answers (worker/service/readiness.py's Health), 503 with the reason
otherwise (``loading``, ``broker unreachable: …``): a readiness probe keeps traffic off a worker
that is still loading or cut off from its broker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from producer.state.eviction import read_memory
from producer.state.keys import DLQ_KEY

log = logging.getLogger(__name__)

#: A live gauge's file: ``gauge_livesum_PID.db``.
_LIVE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db")


class PoolCollector(MultiProcessCollector):
    """The pool processes' values; a dead process's live gauges (its held bytes) dropped."""

    def __init__(self, folder: Path) -> None:
        super().__init__(None, path=str(folder))
        self.folder = folder

    def collect(self) -> Iterable[Metric]:
        """Every value in the folder, after forgetting processes that are gone."""
        for path in self.folder.glob("gauge_live*.db"):
            match = _LIVE_FILE.fullmatch(path.name)
            if match and not _alive(int(match.group(1))):
                mark_process_dead(int(match.group(1)), str(self.folder))
        return super().collect()  # type: ignore[no-any-return]


class BrokerCollector:
    """Gauges read from Redis at each scrape: queue lengths and dead letters."""

    def __init__(self, broker: redis.Redis, queues: Sequence[str]) -> None:
        self.broker = broker
        self.queues = queues

    def collect(self) -> Iterable[Metric]:
        """Both gauges, or neither while Redis does not answer."""
        pipe = self.broker.pipeline(transaction=False)
        for queue in self.queues:
            pipe.llen(queue)
        pipe.llen(DLQ_KEY)
        try:
            *lengths, dead = pipe.execute()
        except redis.RedisError as e:  # the broker may be restarting: the scrape still answers
            log.warning("earmark: metrics: cannot read the broker: %s", e)
            return []
        queued = GaugeMetricFamily(
            "earmark_queue_length", "Messages waiting in each queue.", labels=["queue"]
        )
        for queue, length in zip(self.queues, lengths, strict=True):
            queued.add_metric([queue], length)
        letters = GaugeMetricFamily("earmark_dead_letters", "Entries in the dead-letter list.")
        letters.add_metric([], dead)
        return [queued, letters]


class RedisMemoryCollector:
    """Each of earmark's Redis's used and maximum memory, read at each scrape: what an alert
    on a Redis filling up (deploy/alerts.yml) reads."""

    def __init__(self, redises: dict[str, tuple[str, redis.Redis]]) -> None:
        #: Role -> (URL, client), as `producer.state.eviction.redis_urls` names them.
        self.redises = redises

    def collect(self) -> Iterable[Metric]:
        """Both gauges, for each Redis that answers."""
        used = GaugeMetricFamily(
            "earmark_redis_used_memory_bytes", "Memory a Redis uses.", labels=["redis"]
        )
        most = GaugeMetricFamily(
            "earmark_redis_max_memory_bytes", "A Redis's maxmemory (0: none).", labels=["redis"]
        )
        for role, (url, client) in self.redises.items():
            try:
                memory = read_memory(role, url, client)
            except redis.RedisError as e:
                log.warning("earmark: metrics: cannot read the %s Redis: %s", role, e)
                continue
            used.add_metric([role], memory.used_bytes)
            most.add_metric([role], memory.max_bytes)
        return [used, most]


def registry_for(
    folder: Path,
    broker: redis.Redis,
    queues: Sequence[str],
    redises: dict[str, tuple[str, redis.Redis]],
) -> CollectorRegistry:
    """The registry ``/metrics`` shows: the pool's values, the broker's gauges and each
    Redis's memory."""
    registry = CollectorRegistry()
    registry.register(PoolCollector(folder))
    registry.register(BrokerCollector(broker, queues))
    registry.register(RedisMemoryCollector(redises))
    return registry


def serve(
    port: int, registry: CollectorRegistry, health: Callable[[], tuple[bool, str]]
) -> ThreadingHTTPServer | None:
    """Serve ``/metrics`` and ``/healthz`` on `port` (all interfaces) from a daemon thread; the
    server, or None when the port is taken (logged: the worker runs on without the endpoint).
    ``/healthz`` answers what `health` says: ready or not, and the line its body shows."""
    handler = type("Handler", (_Handler,), {"registry": registry, "health": staticmethod(health)})
    try:
        server = ThreadingHTTPServer(("", port), handler)
    except OSError as e:
        log.error("earmark: no /metrics or /healthz: port %d: %s", port, e)
        return None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="earmark-metrics", daemon=True).start()
    log.info("earmark: /metrics and /healthz on port %d", port)
    return server


class _Handler(BaseHTTPRequestHandler):
    registry: CollectorRegistry
    health: Callable[[], tuple[bool, str]]

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if path == "/metrics":
                self._send(200, generate_latest(self.registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                ready, why = self.health()
                self._send(200 if ready else 503, f"{why}\n".encode())
            else:
                self._send(404, b"not found\n")

    def _send(self, code: int, body: bytes, kind: str = "text/plain; charset=utf-8") -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a scrape every few seconds is not worth a log line."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True
