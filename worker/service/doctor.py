"""``earmark doctor``: a deployment checked from its settings, one finding a line.

Each Redis (reachable, its version, its eviction policy, persistence, room for the expected
volume), the model (loadable with its dtype), the local roots, the results store (writable) and
the metrics port. A finding is ``ok``, ``note`` (worth knowing), ``wrong`` (and how to mend it)
or ``unreachable``; `exit_code` turns them into the command's exit status.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from typing import Literal

import redis

from producer.errors import EarmarkError
from producer.redact import redact_ref
from producer.settings import Settings
from producer.state.eviction import read_memory, redis_urls
from producer.state.redis import connect
from producer.stores import FileStore, open_store
from producer.stores.base import ObjectStore

Level = Literal["ok", "note", "wrong", "unreachable"]

#: Bytes of Redis a finished bulk job at top-k 1 leaves with results in Redis: its record, index
#: and ledger entries (`python -m bench.redis_ops`; the figures are in bench/README.md).
BYTES_PER_JOB = 1400
#: Share of maxmemory past which the expected volume is called too much: Redis needs room
#: beyond its data (replication buffers, fragmentation).
HEADROOM = 0.8


@dataclass(frozen=True)
class Finding:
    """One line of the report."""

    level: Level
    text: str

    def line(self) -> str:
        """The finding as printed: its level, padded, then what it says."""
        return f"{self.level:<11} {self.text}"


def examine(settings: Settings, jobs_per_day: int | None = None) -> Iterator[Finding]:
    """Every finding, in order: the Redis, the model, the roots, the store, the port, versions."""
    for role, url in redis_urls(settings).items():
        yield from _redis(role, url, settings, jobs_per_day)
    yield _model(settings)
    yield from _roots(settings)
    yield _store(settings)
    yield _port(settings.metrics_port)
    yield _versions()


def exit_code(findings: list[Finding]) -> int:
    """3 when a service is unreachable, 1 when something is wrong, else 0."""
    levels = {finding.level for finding in findings}
    return 3 if "unreachable" in levels else 1 if "wrong" in levels else 0


def _redis(role: str, url: str, settings: Settings, jobs: int | None) -> Iterator[Finding]:
    client = connect(url)
    try:
        info = client.info()
        memory = read_memory(role, url, client)
    except redis.RedisError as e:
        yield Finding("unreachable", f"the {role} Redis ({_shown(url)}): {type(e).__name__}: {e}")
        return
    finally:
        client.close()
    yield Finding("ok", f"the {role} Redis ({memory.url}) answers: Redis {info['redis_version']}")
    if memory.policy is None or memory.evicting:
        yield Finding("note" if memory.policy is None else "wrong", memory.describe())
    else:
        yield Finding("ok", f"the {role} Redis evicts nothing ({memory.policy})")
    if not int(info.get("aof_enabled", 0)):
        yield Finding(
            "wrong",
            f"the {role} Redis keeps no append-only file: a restart loses queued messages, the"
            " ledger and booked messages (appendonly yes, appendfsync everysec or always)",
        )
    if jobs and "results" in role:
        yield _room(role, memory.used_bytes, memory.max_bytes, jobs, settings.result_ttl_s)


def _room(role: str, used: int, most: int, jobs: int, ttl_s: int) -> Finding:
    """Whether `jobs` a day, kept `ttl_s`, fit in the Redis's maxmemory."""
    days = ttl_s / 86400
    need = jobs * days * BYTES_PER_JOB
    said = f"{jobs:,} jobs a day kept {days:g} days need about {_gb(need)} of the {role} Redis"
    if most == 0:
        return Finding("note", f"{said}; it has no maxmemory: the host's memory must hold it")
    if used + need > HEADROOM * most:
        return Finding(
            "wrong",
            f"{said}, over {HEADROOM:.0%} of its maxmemory {_gb(most)} ({_gb(used)} used):"
            " raise maxmemory, shorten EARMARK_RESULT_TTL_S, or keep results in S3",
        )
    return Finding("ok", f"{said}: it fits in maxmemory {_gb(most)} ({_gb(used)} used)")


def _model(settings: Settings) -> Finding:
    from worker.classification import pipeline

    try:
        classify = pipeline(settings=settings)
    except (EarmarkError, OSError) as e:
        return Finding("wrong", f"the model does not load: {e}")
    files = classify.classifier.files
    return Finding("ok", f"the model {files.model_id} ({files.dtype}) loads")


def _roots(settings: Settings) -> Iterator[Finding]:
    for root in settings.local_root_list:
        if not os.path.isdir(root) or not os.access(root, os.R_OK | os.X_OK):
            yield Finding(
                "wrong",
                f"the local root {root} is no readable folder: local references under it will"
                " fail (EARMARK_LOCAL_ROOTS)",
            )
        else:
            yield Finding("ok", f"the local root {root} is readable")


def _store(settings: Settings) -> Finding:
    shown = _shown(settings.results_url)
    try:
        store = open_store(settings.results_url, ttl_s=settings.result_ttl_s)
    except EarmarkError as e:
        return Finding("wrong", f"the results store ({shown}) cannot be opened: {e}")
    try:
        if isinstance(store, ObjectStore):
            store.probe()
    except EarmarkError as e:
        # A folder that refuses is set up wrong; an S3 that does not answer is down.
        down = e.code == "store_failed" and not isinstance(store, FileStore)
        level: Level = "unreachable" if down else "wrong"
        return Finding(level, f"the results store ({shown}) cannot be written: {e}")
    return Finding("ok", f"the results store ({shown}) is writable")


def _port(port: int) -> Finding:
    if not port:
        return Finding("note", "no /metrics or /healthz (EARMARK_METRICS_PORT=0)")
    with socket.socket() as probe:
        try:
            probe.bind(("", port))
        except OSError as e:
            return Finding(
                "wrong",
                f"the metrics port {port} is taken ({e.strerror}): a worker here would serve no"
                " /metrics or /healthz (EARMARK_METRICS_PORT)",
            )
    return Finding("ok", f"the metrics port {port} is free")


def _versions() -> Finding:
    names = ("celery", "kombu", "celery-batches", "redis", "onnxruntime", "av")
    return Finding("note", "versions: " + ", ".join(f"{n} {version(n)}" for n in names))


def _gb(size: float) -> str:
    return f"{size / 1e9:.2f} GB"


def _shown(url: str) -> str:
    return redact_ref(url)
