"""What ``bench/queue.py`` measures with: CPU snapshots and usage, timers, and the records.

``Meter`` takes CPU snapshots of the machine (Linux ``/proc/stat``) and of this process plus
the process groups the bench started (the worker, Redis), so every figure can say how much of
the machine other processes took meanwhile. ``Pass``, ``Latency`` and ``Enqueued`` are the
measurements ``bench/report.py`` prints; ``in_process_pass`` and ``one_model_call`` time the
in-process pipeline.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from worker.classification import AudioClassificationPipeline

# ------------------------------------------------------------------------------------ CPU meter


@dataclass(frozen=True)
class Snapshot:
    """Wall clock, the machine's busy CPU seconds, and the CPU seconds of what this bench runs."""

    wall: float
    busy: float
    ours: float


@dataclass
class Meter:
    """CPU snapshots of the machine and of this process plus the process groups it started."""

    groups: set[int] = field(default_factory=set)

    def snapshot(self) -> Snapshot | None:
        """A snapshot from Linux /proc, or None elsewhere."""
        try:
            line = Path("/proc/stat").read_text().split("\n", 1)[0]
        except OSError:
            return None
        ticks = [int(f) for f in line.split()[1:9]]
        tick = os.sysconf("SC_CLK_TCK")
        busy = (sum(ticks) - ticks[3] - ticks[4]) / tick  # all but idle and iowait
        own = os.times()
        ours = own.user + own.system + own.children_user + own.children_system
        return Snapshot(time.monotonic(), busy, ours + self._groups_cpu() / tick)

    def _groups_cpu(self) -> int:
        # Ticks of every live process in the groups started here (the worker and its pool
        # child, Redis), including the children they have reaped.
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rpartition(")")[2].split()
            if int(fields[2]) in self.groups:  # pgrp
                total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        return total

    @contextmanager
    def phase(self, usage: dict[str, Usage], name: str) -> Iterator[None]:
        """Record in ``usage[name]`` the CPU that others and this bench used during the block."""
        before = self.snapshot()
        yield
        usage[name] = Usage.between(before, self.snapshot())


@dataclass(frozen=True)
class Usage:
    """CPU over a stretch of time: the share of the machine others took, and our CPU seconds."""

    wall_s: float
    others: float | None
    ours_s: float | None

    @staticmethod
    def between(before: Snapshot | None, after: Snapshot | None) -> Usage:
        """The usage between two snapshots."""
        if before is None or after is None:
            return Usage(0.0, None, None)
        wall = after.wall - before.wall
        return Usage(wall, others_share(before, after), after.ours - before.ours)

    def __add__(self, other: Usage) -> Usage:
        """Two stretches as one: shares weighted by their length, CPU seconds summed."""
        if self.others is None or other.others is None:
            return Usage(self.wall_s + other.wall_s, None, None)
        if self.ours_s is None or other.ours_s is None:
            return Usage(self.wall_s + other.wall_s, None, None)
        wall = self.wall_s + other.wall_s
        others = (self.others * self.wall_s + other.others * other.wall_s) / wall
        return Usage(wall, others, self.ours_s + other.ours_s)


def others_share(before: Snapshot | None, after: Snapshot | None) -> float | None:
    """Share of the machine's CPU time that other processes used between two snapshots."""
    if before is None or after is None:
        return None
    wall = after.wall - before.wall
    other = (after.busy - before.busy) - (after.ours - before.ours)
    return max(0.0, other) / (wall * (os.cpu_count() or 1))


# ---------------------------------------------------------------------------- measurements


@dataclass(frozen=True)
class Pass:
    """One timed pass: clips and seconds, and the share of the CPUs others took meanwhile."""

    clips: int
    seconds: float
    usage: Usage

    @property
    def rate(self) -> float:
        """Clips per second."""
        return self.clips / self.seconds

    @property
    def cpu_per_clip(self) -> str:
        """CPU seconds this bench's processes (worker and Redis included) spent per clip."""
        ours = self.usage.ours_s
        return "?" if ours is None else f"{ours / self.clips:.3f}"


def in_process_pass(pipe: AudioClassificationPipeline, refs: Sequence[str]) -> float:
    """Seconds of one ``iter_records`` pass; an error record means a broken bench."""
    started = time.perf_counter()
    for record in pipe.iter_records(refs):
        if record.status != "ok":
            raise RuntimeError(f"{record.input}: {record.error}")
    return time.perf_counter() - started


def one_model_call(pipe: AudioClassificationPipeline, ref: str) -> Callable[[], float]:
    """A timer of one model call on one clip's features, in ms (the features are made once)."""
    classifier = pipe.classifier
    wave = pipe.loader.decode(Path(ref).read_bytes()).waveform
    features = classifier.extractor([wave])
    classifier.model.run(features)  # untimed: the first call at batch 1

    def call_ms() -> float:
        started = time.perf_counter()
        classifier.model.run(features)
        return 1000 * (time.perf_counter() - started)

    return call_ms


#: What the latency goal allows on top of max wait and one model call.
LATENCY_SLACK_MS = 20.0


@dataclass(frozen=True)
class Latency:
    """One idle job: submit → record present, what its record says, and an in-process call."""

    total_ms: float
    queued_ms: float  # enqueued_at (client clock) → the worker starts its micro-batch
    work_ms: float  # fetch + decode + model, as the record times them
    infer_ms: float  # the job's own model call, as its record times it
    model_ms: float  # one in-process model call on one clip, timed right after the job

    @property
    def own_ms(self) -> float:
        """The latency less the job's own model call: what earmark adds around it (queue,
        max wait, fetch, decode, labels, write, poll)."""
        return self.total_ms - self.infer_ms


@dataclass(frozen=True)
class LatencyGoal:
    """The idle latency's goal read two ways: p99 of the whole latency against max wait + the
    median idle model call + slack (as issue #13 writes it), and p99 of each job's latency less
    its own model call against max wait + slack (what is left when the model call varies)."""

    p50_ms: float
    p99_ms: float
    goal_ms: float
    own_p99_ms: float
    own_goal_ms: float
    #: The in-process model call after each job: its median and p99 (how much it varies idle).
    model_p50_ms: float
    model_p99_ms: float


def latency_goal(latencies: Sequence[Latency], max_wait_ms: float) -> LatencyGoal:
    """Both readings of the goal for `latencies`."""
    p50, p99 = np.percentile([x.total_ms for x in latencies], [50, 99])
    model_p50, model_p99 = np.percentile([x.model_ms for x in latencies], [50, 99])
    return LatencyGoal(
        p50_ms=float(p50),
        p99_ms=float(p99),
        goal_ms=max_wait_ms + float(model_p50) + LATENCY_SLACK_MS,
        own_p99_ms=float(np.percentile([x.own_ms for x in latencies], 99)),
        own_goal_ms=max_wait_ms + LATENCY_SLACK_MS,
        model_p50_ms=float(model_p50),
        model_p99_ms=float(model_p99),
    )


@dataclass(frozen=True)
class Enqueued:
    """One enqueue measurement: references, messages that landed, seconds, others' share."""

    refs: int
    messages: int
    seconds: float
    usage: Usage
