"""A long recording's memory (issue 22): every pool process's peak while it streams one through.

``python -m bench.longmemory [--seconds 10800] [--formats wav flac mp3 opus]
[--sources local s3 url]`` writes 48 kHz stereo recordings (WAV 16-bit, FLAC, MP3, Opus; a
minute at a time, never held whole, deleted after), serves them from a local folder, moto's S3
server (which keeps each object in this process's memory) and a local HTTP server, and has one
``earmark worker --concurrency 1`` on the full-size wav2vec2-base fp32 label each as one
windowed job (1 s windows, earmark's default batch bounds), one job at a time. Every pool process
is read every 0.1 s; each job's line gives the largest reading during the job and the pool's
high-water mark (``VmHWM``, since the process started: model load included) against the bound
the nightly memory check holds (1.5 x the model file + 300 MB). ``--quick``: the tiny test
wav2vec2, 2 minutes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil

from bench.longform import TEST_MODEL, write_recording
from bench.make_model import MODELS_DIR, ensure_model
from bench.memory import high_water_mb, pool_processes, resident_mb
from producer.client import Client
from producer.settings import Settings
from scripts.processes import start_worker
from scripts.redis_server import running_redis

#: File name, soundfile format and subtype of each format.
FORMATS: dict[str, tuple[str, str, str]] = {
    "wav": ("long.wav", "WAV", "PCM_16"),
    "flac": ("long.flac", "FLAC", "PCM_16"),
    "mp3": ("long.mp3", "MP3", "MPEG_LAYER_III"),
    "opus": ("long.opus", "OGG", "OPUS"),
}
SOURCES = ("local", "s3", "url")
#: moto's fake credentials (no real ones), for the worker and the uploader.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "moto-fake-access-key",
    "AWS_SECRET_ACCESS_KEY": "moto-fake-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
}
BUCKET = "long"
#: Seconds between two readings of the pool's resident memory.
SAMPLE_S = 0.1
#: The control recording's seconds: two full calls of 12 one-second windows.
CONTROL_S = 24


class PeakRss:
    """The largest resident size of any of ``processes``, read on a thread."""

    def __init__(self, processes: list[psutil.Process]) -> None:
        self.processes = processes
        self.peak = max(resident_mb(processes))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.peak = max(self.peak, *resident_mb(self.processes))

    def take(self) -> float:
        """The peak so far, then start again from now."""
        peak, self.peak = self.peak, max(resident_mb(self.processes))
        return peak

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class Job:
    """One recording from one source: its size, time, windows, and the pool's memory."""

    fmt: str
    source: str
    file_mb: float
    seconds: float
    windows: int
    peak_mb: float
    high_water_mb: float


@contextmanager
def http_server(root: Path) -> Iterator[str]:
    """A plain HTTP server on 127.0.0.1 serving ``root``; yields its base URL."""
    handler = partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 with the bucket made; yields its endpoint URL."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log on stderr
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        endpoint = f"http://{host}:{port}"
        _s3(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


def _s3(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=S3_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def reference(source: str, path: Path, servers: dict[str, str]) -> str:
    """The reference of ``path`` from ``source``, uploading it to S3 first when asked."""
    if source == "local":
        return str(path)
    if source == "url":
        return f"{servers['url']}/{path.name}"
    _s3(servers["s3"]).upload_file(str(path), BUCKET, path.name)
    return f"s3://{BUCKET}/{path.name}"


def worker_env(
    model: Path, folder: Path, redis_url: str, servers: dict[str, str]
) -> dict[str, str]:
    """The worker's environment: earmark's defaults but the model, broker, results, roots, S3."""
    env = {
        "EARMARK_BROKER_URL": f"{redis_url}/0",
        "EARMARK_RESULTS_URL": (folder / "results").as_uri(),
        "EARMARK_MODEL": str(model),
        "EARMARK_DTYPE": "fp32",
        "EARMARK_LOCAL_ROOTS": str(folder),
        "EARMARK_URL_ALLOW_PRIVATE": "1",
        **S3_ENV,
    }
    if "s3" in servers:
        env["AWS_ENDPOINT_URL"] = servers["s3"]
    return env


@dataclass(frozen=True)
class Running:
    """A client of the worker, and its pool processes with their reader."""

    client: Client
    rss: PeakRss
    pool: list[psutil.Process]


def run_job(running: Running, ref: str) -> tuple[float, int, float, float]:
    """One windowed job, waited for: (seconds, windows, peak during it, high-water mark)."""
    client, rss, pool = running.client, running.rss, running.pool
    rss.take()
    started = time.perf_counter()
    job = client.submit(ref, window={"window_s": 1.0})
    record = client.result(job, wait=True, timeout=6 * 3600.0)
    seconds = time.perf_counter() - started
    if record is None or record.status != "ok" or record.windows is None:
        raise RuntimeError(f"{ref}: {record}")
    return seconds, record.windows.count, rss.take(), max(high_water_mb(p) for p in pool)


def measure(args: argparse.Namespace, model: Path, folder: Path) -> list[Job]:
    """Every format from every source through one worker, one job at a time."""
    jobs: list[Job] = []
    with ExitStack() as stack:
        servers = {"url": stack.enter_context(http_server(folder))}
        if "s3" in args.sources:
            servers["s3"] = stack.enter_context(s3_server())
        redis_url = stack.enter_context(running_redis(folder)).url.rsplit("/", 1)[0]
        env = worker_env(model, folder, redis_url, servers)
        worker = start_worker(env, folder / "worker.log", "--concurrency", "1")
        stack.callback(worker.stop)
        worker.wait_ready(timeout_s=300)
        pool = pool_processes(psutil.Process(worker.process.pid), 1)
        client = Client(
            Settings(broker_url=env["EARMARK_BROKER_URL"], results_url=env["EARMARK_RESULTS_URL"])
        )
        stack.callback(client.celery.close)
        running = Running(client, PeakRss(pool), pool)
        stack.callback(running.rss.stop)
        jobs.append(_control(folder, running))
        for fmt in args.formats:
            jobs += _one_format(args, fmt, folder, servers, running)
    return jobs


def _control(folder: Path, running: Running) -> Job:
    """A short recording first (24 s, every call shape a long one makes under the default
    batch bounds): the pool's peak on it is what a long one is held against."""
    path = write_recording(folder / "short.wav", CONTROL_S)
    size = path.stat().st_size / 1e6
    seconds, windows, peak, high = run_job(running, str(path))
    path.unlink()
    job = Job(f"{CONTROL_S}s", "local", size, seconds, windows, peak, high)
    print(_line(job), file=sys.stderr)
    return job


def _one_format(
    args: argparse.Namespace, fmt: str, folder: Path, servers: dict[str, str], running: Running
) -> list[Job]:
    name, kind, subtype = FORMATS[fmt]
    print(f"writing {args.seconds} s of {fmt} …", file=sys.stderr)
    path = write_recording(folder / name, args.seconds, kind, subtype)
    size = path.stat().st_size / 1e6
    jobs = []
    for source in args.sources:
        ref = reference(source, path, servers)
        seconds, windows, peak, high = run_job(running, ref)
        jobs.append(Job(fmt, source, size, seconds, windows, peak, high))
        print(_line(jobs[-1]), file=sys.stderr)
        if source == "s3":
            _s3(servers["s3"]).delete_object(Bucket=BUCKET, Key=path.name)
    path.unlink()
    return jobs


def _line(job: Job) -> str:
    return (
        f"{job.fmt:<5} {job.source:<6} {job.file_mb:>8.0f} {job.windows:>7} {job.seconds:>8.1f} "
        f"{job.windows / job.seconds:>7.2f} {job.peak_mb:>9.0f} {job.high_water_mb:>9.0f}"
    )


def report(jobs: Sequence[Job], model_mb: float, seconds: int, model: str) -> list[str]:
    """The table and the bound."""
    bound = 1.5 * model_mb + 300
    lines = [
        f"long-recording memory: {model} fp32 ({model_mb:.0f} MB), {seconds} s of 48 kHz stereo, "
        f"1 s windows, one worker, one pool process; bound 1.5 x model + 300 = {bound:.0f} MB",
        f"{'fmt':<5} {'source':<6} {'file MB':>8} {'windows':>7} {'seconds':>8} {'win/s':>7} "
        f"{'peak MB':>9} {'VmHWM MB':>9}",
    ]
    lines += [_line(job) for job in jobs]
    control, long = jobs[0], jobs[1:]
    worst = max(max(j.peak_mb, j.high_water_mb) for j in long)
    lines.append(
        f"largest peak over the {control.fmt} recording's: "
        f"{max(j.peak_mb for j in long) - control.peak_mb:+.0f} MB"
    )
    verdict = "met" if worst <= bound else "MISSED"
    lines.append(f"goal (issue #22, item 3): largest {worst:.0f} MB <= {bound:.0f} MB  {verdict}")
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.longmemory", description=__doc__)
    parser.add_argument("--seconds", type=int, default=None, help="recording length (10800)")
    parser.add_argument("--formats", nargs="+", choices=list(FORMATS), default=list(FORMATS))
    parser.add_argument("--sources", nargs="+", choices=SOURCES, default=list(SOURCES))
    parser.add_argument("--quick", action="store_true", help="tiny test model, 120 s")
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (120 if args.quick else 3 * 3600)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    model = TEST_MODEL if args.quick else ensure_model(MODELS_DIR / "wav2vec2-base")
    with tempfile.TemporaryDirectory(prefix="earmark-longmemory-") as scratch:
        jobs = measure(args, model, Path(scratch))
    model_mb = os.path.getsize(model / "onnx" / "model.onnx") / 1e6
    print("\n".join(report(jobs, model_mb, args.seconds, model.name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
