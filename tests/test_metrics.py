"""Prometheus metrics: pool processes' values added up by the parent's endpoint, scraped by a
real Prometheus server whose totals must equal the records written; ``/healthz`` is 503 until
every pool process has its model (a real worker held in its load by a named pipe)."""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest, values
from prometheus_client.parser import text_string_to_metric_families

from producer.messages import BULK_QUEUE, INTERACTIVE_QUEUE
from producer.settings import Settings
from scripts.processes import free_port, wait_for
from tests.models import GOLDEN_AUDIO, model_dir
from tests.prometheus import running_prometheus, settle
from tests.servers import http_get
from tests.workers import WorkerProcess, client_for, start_worker, worker_env
from worker.classification import pipeline
from worker.service.metrics import STAGES, Metrics
from worker.service.metrics_server import PoolCollector, registry_for, serve
from worker.service.metrics_values import use_folder
from worker.service.readiness import Health, ReadinessPipe


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The samples of an exposition: {(name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def metrics_folder(tmp_path: Path) -> Iterator[Path]:
    """A metrics folder installed as prometheus_client's value class, as a worker does; the
    library's own class put back afterwards."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    before = values.ValueClass
    use_folder(folder)
    yield folder
    values.ValueClass = before


def fork(action: object) -> int:
    """Run `action()` in a child process, as a pool process would; its pid."""
    pid = os.fork()
    if pid == 0:
        try:
            action()  # type: ignore[operator]
        finally:
            os._exit(0)
    return pid


def test_endpoint_adds_up_pool_processes_and_healthz_waits_for_all(
    metrics_folder: Path, redis_client: redis.Redis, redis_url: str
) -> None:
    # Given the parent's endpoint, and two pool processes that have not loaded their model yet
    readiness = ReadinessPipe()
    port = free_port()
    redises = {"broker and results": (redis_url, redis_client)}
    queues = [INTERACTIVE_QUEUE, BULK_QUEUE]
    registry = registry_for(metrics_folder, redis_client, queues, redises)
    health = Health(readiness, redis_client).check
    server = serve(port, registry, health)
    assert server is not None
    assert serve(port, registry, health) is None  # taken: logged, the worker runs on
    base = f"http://127.0.0.1:{port}"
    assert http_get(f"{base}/healthz")[0] == 503

    def pool_process(index: int) -> None:
        metrics = Metrics()
        metrics.model_loaded(0.5 * (index + 1))
        metrics.jobs.labels(status="ok", code="").inc(3)
        metrics.jobs.labels(status="error", code="not_found").inc(index)
        metrics.inflight.add(1000)  # held when the process dies: dropped with it
        readiness.report_loaded()

    # When both load and count, then exit
    pids = [fork(lambda i=i: pool_process(i)) for i in range(2)]
    for pid in pids:
        os.waitpid(pid, 0)
    assert readiness.wait(2, timeout_s=10) == 2
    redis_client.rpush(INTERACTIVE_QUEUE, b"a", b"b")

    # Then /healthz says ready and /metrics has their sums, the slowest load, the broker's gauges
    assert http_get(f"{base}/healthz") == (200, "ready\n")
    status, text = http_get(f"{base}/metrics")
    assert status == 200
    got = samples(text)
    assert got["earmark_jobs_total", (("code", ""), ("status", "ok"))] == 6
    assert got["earmark_jobs_total", (("code", "not_found"), ("status", "error"))] == 1
    assert got["earmark_model_load_seconds", ()] == 1.0
    assert got.get(("earmark_inflight_bytes", ()), 0.0) == 0.0  # both processes are gone
    assert got["earmark_queue_length", (("queue", INTERACTIVE_QUEUE),)] == 2
    assert got["earmark_queue_length", (("queue", BULK_QUEUE),)] == 0
    assert got["earmark_dead_letters", ()] == 0
    used = got["earmark_redis_used_memory_bytes", (("redis", "broker and results"),)]
    assert used == pytest.approx(redis_client.info("memory")["used_memory"], rel=0.5)
    assert got["earmark_redis_max_memory_bytes", (("redis", "broker and results"),)] == 0
    assert http_get(f"{base}/nothing")[0] == 404
    server.shutdown()
    server.server_close()
    readiness.close()


def test_a_pipeline_tells_its_metrics_of_every_load_and_model_call(metrics_folder: Path) -> None:
    # Given a pool process's metrics, passed as its pipeline's hooks (as build_runner does)
    metrics = Metrics()
    settings = Settings(local_roots=str(GOLDEN_AUDIO))
    classify = pipeline(
        model=str(model_dir("wav2vec2")), dtype="fp32", settings=settings, hooks=metrics
    )
    good = sorted(str(path) for path in GOLDEN_AUDIO.glob("*.wav"))

    # When it classifies in process, in calls of at most two clips, with one reference missing
    records = list(classify.iter_records([*good, str(GOLDEN_AUDIO / "gone.wav")], batch_size=2))
    assert [r.status for r in records] == ["ok"] * len(good) + ["error"]

    # Then every clip that decoded went through one call, each call observed once per stage,
    # and no decoded audio is held ahead of the model any more (without the runner's clear())
    registry = CollectorRegistry()
    registry.register(PoolCollector(metrics_folder))
    got = samples(generate_latest(registry).decode())
    assert got["earmark_batch_size_sum", ()] == len(good)
    calls = got["earmark_batch_size_count", ()]
    assert len(good) / 2 <= calls <= len(good)
    assert got["earmark_stage_seconds_count", (("stage", "features"),)] == calls
    assert got["earmark_stage_seconds_count", (("stage", "infer"),)] == calls
    assert got["earmark_inflight_bytes", ()] == 0


@pytest.mark.worker
def test_prometheus_totals_equal_the_records_written(
    redis_url: str, redis_client: redis.Redis, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    # Given a worker with two pool processes and its metrics port (the flag over the setting's
    # 0), and references of which four fail: two missing, one not audio, one outside the roots
    port = free_port()
    (tmp_path / "broken.wav").write_bytes(b"this is not audio")
    env = worker_env(redis_url, extra={"EARMARK_LOCAL_ROOTS": f"{GOLDEN_AUDIO}:{tmp_path}"})
    assert env["EARMARK_METRICS_PORT"] == "0"
    worker = start_worker(env, tmp_path / "worker.log", "--concurrency=2", f"--metrics-port={port}")
    workers.append(worker)
    good = sorted(str(path) for path in GOLDEN_AUDIO.glob("*.wav"))
    interactive = [*good, str(GOLDEN_AUDIO / "gone.wav"), str(GOLDEN_AUDIO / "gone2.wav")]
    bulk = [*good, str(tmp_path / "broken.wav"), "/etc/passwd"]
    client = client_for(env)
    worker.wait_ready()
    assert http_get(f"http://127.0.0.1:{port}/healthz") == (200, "ready\n")

    # When the jobs run (interactive micro-batches and one bulk chunk) and one dead letter waits
    batches = [
        client.submit_many(interactive, bulk=False).batch_id,
        client.submit_many(bulk, bulk=True).batch_id,
    ]
    records = [r for b in batches for r in client.iter_results(b, wait=True, timeout=120)]
    client.dead_letters.push_message("{}", "invalid_message", "a test's dead letter")

    # Then Prometheus, scraping the worker, counts exactly the records written
    assert len(records) == len(interactive) + len(bulk) == 20
    written = Counter(f"{r.status}/{r.error.code if r.error else ''}" for r in records)
    assert written["ok/"] == 2 * len(good)
    assert sum(n for key, n in written.items() if key.startswith("error/")) == 4
    with running_prometheus(tmp_path, [f"127.0.0.1:{port}"]) as prometheus:

        def totals() -> dict[str, float]:
            result = prometheus.query("earmark_jobs_total")
            return {
                f"{s['metric']['status']}/{s['metric'].get('code', '')}": float(s["value"][1])
                for s in result
            }

        settle(totals, {key: float(n) for key, n in written.items()})
        # Every clip that decoded went through one model call; the stages have their counts.
        assert prometheus.values("sum(earmark_batch_size_sum)", "") == {"": 2 * len(good)}
        counts = prometheus.values("sum by (stage) (earmark_stage_seconds_count)", "stage")
        assert set(counts) == set(STAGES)
        for stage in ("queued", "fetch", "decode"):
            timed = sum(1 for r in records if getattr(r.timings, f"{stage}_s") is not None)
            assert counts[stage] == timed, stage
        calls = prometheus.values("sum(earmark_batch_size_count)", "")[""]
        assert counts["features"] == counts["infer"] == calls
        assert prometheus.values("earmark_model_load_seconds", "")[""] > 0
        assert prometheus.values("earmark_dead_letters", "") == {"": 1}
        queues = prometheus.values("earmark_queue_length", "queue")
        assert queues == {INTERACTIVE_QUEUE: 0, BULK_QUEUE: 0}
        assert prometheus.values("earmark_inflight_bytes", "") == {"": 0}


def answers(url: str) -> bool:
    """Whether anything answers HTTP at `url`."""
    try:
        http_get(url)
    except OSError:
        return False
    return True


@pytest.mark.worker
def test_healthz_is_503_while_the_model_loads_then_200(
    redis_url: str, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    # Given a model in the Hub cache whose config.json is a named pipe: the pool process's
    # load blocks reading it until the test writes the file's bytes into the pipe
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--test--slow-load"
    snapshot = repo / "snapshots" / revision
    shutil.copytree(model_dir("wav2vec2"), snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    config = (snapshot / "config.json").read_bytes()
    (snapshot / "config.json").unlink()
    os.mkfifo(snapshot / "config.json")
    port = free_port()
    extra = {"EARMARK_MODEL": "test/slow-load", "HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    worker = start_worker(
        worker_env(redis_url, extra=extra), tmp_path / "worker.log", f"--metrics-port={port}"
    )
    workers.append(worker)
    healthz = f"http://127.0.0.1:{port}/healthz"

    # When the endpoint is up while the model is still loading
    wait_for(lambda: answers(healthz), 60, "the worker's endpoint")
    # Then it says 503, and goes on saying it while the load waits
    assert http_get(healthz) == (503, "loading\n")
    time.sleep(0.5)
    assert http_get(healthz) == (503, "loading\n")

    # When the load goes on (the pipe gets its bytes), then it says 200 once the worker is ready
    with (snapshot / "config.json").open("wb") as pipe:
        pipe.write(config)
    worker.wait_ready()
    assert http_get(healthz) == (200, "ready\n")
