"""Hostile inputs end to end: bad references and bad task messages through real worker processes.

Two workers run side by side, each on its own broker database and results folder so that every
job lands on the worker it was meant for:

- `off`: the production default, ``EARMARK_URL_ALLOW_PRIVATE=0``. It gets one batch of every
  hostile local file, path escape, scheme and S3 case, plus URLs on the loopback test server
  (all refused as private), then the raw broker messages.
- `on`: ``EARMARK_URL_ALLOW_PRIVATE=1``, so that it can reach the test HTTP server; it gets one
  batch of the HTTP cases (statuses, caps, redirects to metadata addresses and other schemes).

Each case names the error code its record must carry (or ``ok``); afterwards each worker must
still be alive and classify a good clip.
"""

from __future__ import annotations

import base64
import io
import os
import socket
import struct
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kombu
import numpy as np
import pytest
import redis
import soundfile as sf
from pydantic import ValidationError

from producer.broker import TRANSPORT_OPTIONS
from producer.client import Client
from producer.messages import BULK_QUEUE, CHUNK_TASK, CLASSIFY_TASK, INTERACTIVE_QUEUE
from producer.records import ResultRecord
from producer.state.dlq import DeadLetters
from scripts.processes import free_port
from tests.corpus import encode_soundfile, wav_header
from tests.servers import HttpServer
from tests.workers import WorkerProcess, client_for, start_worker, worker_env

#: The byte and duration caps the workers run with.
MAX_BYTES = 5 * 1024 * 1024
MAX_SECONDS = 60
#: Seconds one URL fetch may take in all.
FETCH_TIMEOUT_S = 8
#: Seconds a batch of hostile cases may take: fetch retries of 5xx answers take 11.5-23 s, and
#: of a trickle six tries of FETCH_TIMEOUT_S more.
BATCH_TIMEOUT_S = 120.0
#: Seconds to wait for a record that a raw message must produce.
RECORD_TIMEOUT_S = 30.0

Case = tuple[str, str, str]  # (name, reference, expected code or "ok")


@dataclass
class System:
    """One worker with its own broker database and results folder, and a client for it."""

    name: str
    worker: WorkerProcess
    client: Client
    broker_url: str

    def log(self) -> str:
        """The worker's log so far."""
        return self.worker.log.read_text(errors="replace")


@dataclass
class Hostile:
    """Both workers and the folders the cases live in."""

    off: System
    on: System
    root: Path
    outside: Path
    sibling: Path
    http: HttpServer
    good: Path


# --- files ---------------------------------------------------------------------------------


def _tone(frames: int, rate: int = 16_000, channels: int = 1) -> np.ndarray:
    t = np.arange(frames, dtype=np.float64) / rate
    return np.repeat((0.3 * np.sin(2 * np.pi * 440.0 * t))[:, None], channels, 1).astype(np.float32)


def _wav(frames: int = 16_000, rate: int = 16_000, subtype: str = "PCM_16") -> bytes:
    return encode_soundfile(_tone(frames, rate), rate, "WAV", subtype)


def _float_wav_with(value: float) -> bytes:
    x = _tone(16_000)
    x[1000:1010] = value
    return encode_soundfile(x, 16_000, "WAV", "FLOAT")


def _flac_total_samples(data: bytes, total: int) -> bytes:
    """The FLAC with STREAMINFO's 36-bit total-samples field set to `total` (0: unknown)."""
    out = bytearray(data)
    field = int.from_bytes(out[18:26], "big")  # after "fLaC" and the 4-byte block header
    field = (field & ~((1 << 36) - 1)) | total
    out[18:26] = field.to_bytes(8, "big")
    return bytes(out)


def _silent_flac(seconds: int, rate: int = 1_000) -> bytes:
    """A real, highly compressible FLAC of `seconds` of silence (10 h is about 120 kB)."""
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=rate, channels=1, format="FLAC") as f:
        block = np.zeros(rate * 3600, np.int16)
        for _ in range(seconds // 3600):
            f.write(block)
    return buf.getvalue()


def _files() -> dict[str, bytes]:
    """The hostile (and a few good) files written into the local root, by name."""
    good = _wav()
    flac = encode_soundfile(_tone(16_000), 16_000, "FLAC", "PCM_16")
    ten_hours = _silent_flac(10 * 3600)
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, (6 * 1024 * 1024 // 8, 2))
    return {
        "good.wav": good,
        "zero.wav": b"",
        "truncated_header.wav": good[:30],
        "header_only.wav": wav_header(16_000, 1, 0),
        "truncated_samples.wav": good[: len(good) * 3 // 5 + 1],
        "text.wav": b"this is a text file with a .wav name, not audio\n" * 20,
        "png.wav": b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + bytes(400),
        "claims_2e31_frames.wav": wav_header(16_000, 1, 2**32 - 2) + good[44:],
        "claims_10h.wav": wav_header(16_000, 1, 16_000 * 2 * 36_000) + good[44:],
        "nan.wav": _float_wav_with(float("nan")),
        "inf.wav": _float_wav_with(float("inf")),
        "rate_1hz.wav": wav_header(1, 1, 2_000) + bytes(2_000),
        "rate_768khz.wav": wav_header(768_000, 1, 64_000) + bytes(64_000),
        "64ch.wav": wav_header(16_000, 64, 64 * 2 * 1_000) + bytes(64 * 2 * 1_000),
        "claims_10h.flac": _flac_total_samples(flac, 16_000 * 36_000),
        "silent_10h.flac": ten_hours,
        "silent_10h_unstated.flac": _flac_total_samples(ten_hours, 0),
        "70s_8k.wav": _wav(8_000 * 70, 8_000),
        "6MB.wav": encode_soundfile(noise.astype(np.float32), 48_000, "WAV", "FLOAT"),
        "100_samples.wav": _wav(100),
    }


def _local_cases(h: Hostile) -> list[Case]:
    root, secret = h.root, h.outside / "secret.wav"
    codes = {
        "good.wav": "ok",
        "zero.wav": "decode_failed",
        "truncated_header.wav": "decode_failed",
        "header_only.wav": "decode_failed",
        "truncated_samples.wav": "ok",  # like the reference: what decodes is classified
        "text.wav": "unsupported_format",
        "png.wav": "unsupported_format",
        # libsndfile trusts the file's length over a WAV data size that overstates it, so only
        # the second of audio the file holds is decoded: safe, and what ffmpeg does too.
        "claims_2e31_frames.wav": "ok",
        "claims_10h.wav": "ok",
        "nan.wav": "decode_failed",
        "inf.wav": "decode_failed",
        "rate_1hz.wav": "decode_failed",
        "rate_768khz.wav": "decode_failed",
        "64ch.wav": "unsupported_format",
        "claims_10h.flac": "too_large",  # STREAMINFO's claim is refused before decoding
        "silent_10h.flac": "too_large",  # a real 10-hour file of 120 kB
        "silent_10h_unstated.flac": "too_large",  # no claim: cut off while decoding
        "70s_8k.wav": "too_large",
        "6MB.wav": "too_large",
        "100_samples.wav": "ok",
    }
    cases = [(name, str(root / name), code) for name, code in codes.items()]
    return [
        *cases,
        ("file_url_inside", f"file://{root}/good.wav", "ok"),
        ("file_etc_passwd", "file:///etc/passwd", "forbidden"),
        ("etc_passwd", "/etc/passwd", "forbidden"),
        ("dotdot_escape", f"{root}/../outside/secret.wav", "forbidden"),
        ("dotdot_deep", f"{root}/../../../../../../etc/passwd", "forbidden"),
        ("absolute_outside", str(secret), "forbidden"),
        ("symlink_outside", str(root / "link_out.wav"), "forbidden"),
        ("symlink_dir_outside", str(root / "dir_out" / "secret.wav"), "forbidden"),
        ("sibling_prefix", str(h.sibling / "secret.wav"), "forbidden"),
        ("symlink_loop", str(root / "loop.wav"), "forbidden"),
        ("missing", str(root / "missing.wav"), "not_found"),
        ("directory", str(root / "subdir"), "invalid_ref"),
        ("fifo", str(root / "fifo.wav"), "invalid_ref"),
        ("name_too_long", str(root / ("a" * 300 + ".wav")), "invalid_ref"),
        ("file_url_remote_host", "file://evil.example/etc/passwd", "invalid_ref"),
    ]


def _scheme_cases() -> list[Case]:
    wav = base64.b64encode(_wav(400)).decode()
    return [
        ("ftp", "ftp://example.com/clip.wav", "invalid_ref"),
        ("gopher", "gopher://example.com/1clip.wav", "invalid_ref"),
        ("data", f"data:audio/wav;base64,{wav}", "invalid_ref"),
        ("javascript", "javascript:alert(1)", "invalid_ref"),
        ("blank", "   ", "invalid_ref"),
        ("nul", "clip\x00.wav", "invalid_ref"),
        ("s3_no_key", "s3://earmark-missing-bucket", "invalid_ref"),
        # AWS_ENDPOINT_URL is a closed port: every try is refused; retried, then given up.
        ("s3_missing_bucket", "s3://earmark-missing-bucket/clip.wav", "fetch_failed"),
    ]


def _private_url_cases(h: Hostile) -> list[Case]:
    """URLs on the loopback test server (and other private addresses): all refused."""
    port = h.http.base.rsplit(":", 1)[1]
    good = h.http.url("/files/good.wav")
    return [
        ("url_loopback", good, "forbidden"),
        ("redirect_to_loopback", h.http.url(f"/redirect?to={good}"), "forbidden"),
        (
            "redirect_to_metadata",
            h.http.url("/redirect?to=http://169.254.169.254/latest/meta-data/"),
            "forbidden",
        ),
        ("url_404_private", h.http.url("/status/404"), "forbidden"),
        ("url_500_private", h.http.url("/status/500"), "forbidden"),
        ("url_5GB_private", h.http.url("/declared/5000000000"), "forbidden"),
        ("localhost", f"http://localhost:{port}/files/good.wav", "forbidden"),
        ("decimal_ip", f"http://2130706433:{port}/files/good.wav", "forbidden"),
        ("v4_mapped_v6", f"http://[::ffff:127.0.0.1]:{port}/files/good.wav", "forbidden"),
        ("metadata", "http://169.254.169.254/latest/meta-data/iam/", "forbidden"),
        ("rfc1918", "https://10.0.0.1/clip.wav", "forbidden"),
        ("unspecified", f"http://0.0.0.0:{port}/files/good.wav", "forbidden"),
        ("bad_port", "http://example.com:99999/clip.wav", "invalid_ref"),
        ("no_host", "http:///clip.wav", "invalid_ref"),
    ]


def _http_cases(h: Hostile) -> list[Case]:
    """Cases for the worker that may reach the loopback server; the slow ones first."""
    url, good = h.http.url, h.http.url("/files/good.wav")
    with closing(socket.socket()) as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    return [
        ("status_500", url("/status/500"), "fetch_failed"),  # retried, then given up
        ("status_504", url("/status/504"), "timeout"),  # retried, then given up
        ("closed_port", f"http://127.0.0.1:{closed}/clip.wav", "fetch_failed"),
        # 100 bytes over 5 s: slow but within every timeout, then not audio.
        ("trickle_50ms", url("/trickle/50"), "unsupported_format"),
        # A byte a second: never a read timeout, cut off by the total one (and retried).
        ("trickle_1s", url("/trickle/1000"), "timeout"),
        ("good", good, "ok"),
        ("redirect_to_loopback_allowed", url(f"/redirect?to={good}"), "ok"),
        ("relative_redirect", url("/redirect?to=/files/good.wav"), "ok"),
        ("status_404", url("/status/404"), "not_found"),
        ("missing_file", url("/files/missing.wav"), "not_found"),
        ("status_403", url("/status/403"), "forbidden"),
        ("status_400", url("/status/400"), "invalid_ref"),
        ("declared_5GB", url("/declared/5000000000"), "too_large"),
        ("streamed_5GB", url("/large/5000000000"), "too_large"),
        ("streamed_6MB", url(f"/large/{6 * 1024 * 1024}"), "too_large"),
        (
            "redirect_to_metadata",
            url("/redirect?to=http://169.254.169.254/latest/meta-data/"),
            "forbidden",
        ),
        ("redirect_to_metadata_v6", url("/redirect?to=http://[::ffff:a9fe:a9fe]/"), "forbidden"),
        ("metadata", "http://169.254.169.254/latest/meta-data/", "forbidden"),
        ("metadata_alibaba", "http://100.100.100.200/latest/meta-data/", "forbidden"),
        ("metadata_aws_v6", "http://[fd00:ec2::254]/latest/meta-data/", "forbidden"),
        ("redirect_to_file", url("/redirect?to=file:///etc/passwd"), "forbidden"),
        ("redirect_to_ftp", url("/redirect?to=ftp://example.com/clip.wav"), "forbidden"),
        ("redirect_loop", url("/loop/0"), "invalid_ref"),
        ("text_over_http", url("/files/text.wav"), "unsupported_format"),
        ("nan_over_http", url("/files/nan.wav"), "decode_failed"),
    ]


# --- workers -------------------------------------------------------------------------------


def _env(broker_url: str, results: Path, root: Path, allow_private: bool) -> dict[str, str]:
    return worker_env(
        broker_url,
        results.as_uri(),
        {
            "EARMARK_LOCAL_ROOTS": str(root),
            "EARMARK_URL_ALLOW_PRIVATE": "1" if allow_private else "0",
            "EARMARK_MAX_BYTES": str(MAX_BYTES),
            "EARMARK_MAX_SECONDS": str(MAX_SECONDS),
            "EARMARK_FETCH_TIMEOUT_S": str(FETCH_TIMEOUT_S),
            # One micro-batch for the whole corpus: slow fetches overlap instead of adding up.
            "EARMARK_MAX_BATCH": "128",
            "EARMARK_MAX_WAIT_MS": "500",
            "EARMARK_INTRA_OP_THREADS": "1",
            # S3 on a closed port, with fake credentials: no real endpoint, no real keys.
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
            "AWS_ACCESS_KEY_ID": "earmark-fake-access-key",
            "AWS_SECRET_ACCESS_KEY": "earmark-fake-secret-key",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "HF_HUB_OFFLINE": "1",
        },
    )


@pytest.fixture(scope="module")
def hostile(
    redis_url: str, http_server: HttpServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hostile]:
    """Both workers, ready, with the hostile files written; stopped at the end of the module."""
    tmp = tmp_path_factory.mktemp("hostile")
    root, outside, sibling = tmp / "root", tmp / "outside", tmp / "root2"
    for folder in (root / "subdir", outside / "dir", sibling):
        folder.mkdir(parents=True)
    for name, data in _files().items():
        (root / name).write_bytes(data)
    good = (root / "good.wav").read_bytes()
    for secret in (outside / "secret.wav", outside / "dir" / "secret.wav", sibling / "secret.wav"):
        secret.write_bytes(good)  # decodable: reading one would show as "ok"
    (root / "link_out.wav").symlink_to(outside / "secret.wav")
    (root / "dir_out").symlink_to(outside / "dir")
    (root / "loop.wav").symlink_to(root / "loop.wav")
    os.mkfifo(root / "fifo.wav")
    for name in ("good.wav", "text.wav", "nan.wav"):
        (http_server.root / name).write_bytes((root / name).read_bytes())

    base = redis_url.rsplit("/", 1)[0]
    systems: dict[str, System] = {}
    for name, db, allow_private in (("off", 8, False), ("on", 9, True)):
        broker = f"{base}/{db}"
        env = _env(broker, tmp / f"results_{name}", root, allow_private)
        worker = start_worker(env, tmp / f"worker_{name}.log", "--concurrency", "1")
        systems[name] = System(name, worker, client_for(env), broker)
    try:
        for system in systems.values():
            system.worker.wait_ready()
        yield Hostile(
            systems["off"], systems["on"], root, outside, sibling, http_server, root / "good.wav"
        )
    finally:
        for system in systems.values():
            system.worker.stop()


# --- helpers -------------------------------------------------------------------------------


def _run_batch(system: System, cases: list[Case]) -> dict[str, str]:
    """Submit the cases as one interactive batch; each case's code (or "ok") by name."""
    refs = [ref for _, ref, _ in cases]
    submission = system.client.submit_many(refs, bulk=False)
    records = list(
        system.client.iter_results(submission.batch_id, wait=True, timeout=BATCH_TIMEOUT_S)
    )
    by_index = {int((r.job_id or "").rpartition(":")[2]): r for r in records}
    assert sorted(by_index) == list(range(len(cases))), system.client.status(submission.batch_id)
    for index, record in by_index.items():
        assert record.input == refs[index]
    status = system.client.status(submission.batch_id)
    failed = sum(1 for r in records if r.status == "error")
    assert (status.total, status.done, status.failed) == (len(cases), len(cases), failed)
    return {cases[i][0]: _code(record) for i, record in by_index.items()}


def _code(record: ResultRecord) -> str:
    if record.status == "ok":
        assert record.labels, record
        return "ok"
    assert record.error is not None, record
    return record.error.code


def _assert_still_serving(system: System, good: Path) -> None:
    """The worker process lives and classifies a good clip."""
    assert system.worker.process.poll() is None, system.log()[-3000:]
    job_id = system.client.submit(str(good))
    record = system.client.result(job_id, wait=True, timeout=RECORD_TIMEOUT_S)
    assert record is not None, f"no record for a good clip after the hostile cases ({system.name})"
    assert record.status == "ok", record
    assert system.worker.process.poll() is None


def _summary(label: str, codes: dict[str, str], seconds: float) -> str:
    seen = ", ".join(f"{code}={n}" for code, n in sorted(Counter(codes.values()).items()))
    return f"hostile[{label}]: {len(codes)} cases in {seconds:.1f} s; codes: {seen}"


# --- tests ---------------------------------------------------------------------------------


def test_hostile_references_get_their_codes_and_the_workers_keep_serving(
    hostile: Hostile,
) -> None:
    """Given one batch of hostile refs per worker, each record has the expected code."""
    off_cases = _local_cases(hostile) + _scheme_cases() + _private_url_cases(hostile)
    on_cases = _http_cases(hostile)
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:  # both batches at once: their slow retries overlap
        off_run = pool.submit(_run_batch, hostile.off, off_cases)
        on_run = pool.submit(_run_batch, hostile.on, on_cases)
        off_codes, on_codes = off_run.result(), on_run.result()
    elapsed = time.monotonic() - started
    print(_summary("allow_private=0", off_codes, elapsed))
    print(_summary("allow_private=1", on_codes, elapsed))
    assert len(off_cases) + len(on_cases) >= 30
    assert off_codes == {name: code for name, _, code in off_cases}
    assert on_codes == {name: code for name, _, code in on_cases}
    for system in (hostile.off, hostile.on):
        _assert_still_serving(system, hostile.good)


def test_the_producer_refuses_an_empty_reference(hostile: Hostile) -> None:
    """An empty reference never reaches the broker: the message schema refuses it."""
    client = hostile.off.client
    with pytest.raises(ValidationError):
        client.submit("")
    batch_id = uuid.uuid4().hex
    with pytest.raises(ValidationError):
        client.submit_many([str(hostile.good), ""], bulk=False, batch_id=batch_id)
    # A refused submission must not leave jobs counted that will never get a record.
    status = client.status(batch_id)
    assert status.pending == 0, f"a refused submission left jobs pending for ever: {status}"


# --- raw task messages ---------------------------------------------------------------------


def _publish(
    broker_url: str,
    kwargs: dict[str, Any] | None = None,
    *,
    task: str = CLASSIFY_TASK,
    queue: str = INTERACTIVE_QUEUE,
    serializer: str | None = "json",
    raw_body: bytes | None = None,
) -> None:
    """Publish a Celery protocol 2 message built by hand, bypassing the producer's Client."""
    task_id = str(uuid.uuid4())
    headers = {
        "lang": "py",
        "task": task,
        "id": task_id,
        "root_id": task_id,
        "parent_id": None,
        "group": None,
        "retries": 0,
        "eta": None,
        "expires": None,
        "timelimit": [None, None],
        "argsrepr": "()",
        "kwargsrepr": "{...}",
        "origin": "test_hostile",
        "ignore_result": True,
    }
    body: Any = [[], kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    extra: dict[str, str] = {}
    if raw_body is not None:
        body, serializer = raw_body, None
        extra = {"content_type": "application/json", "content_encoding": "utf-8"}
    with kombu.Connection(broker_url, transport_options=TRANSPORT_OPTIONS) as connection:
        connection.Producer().publish(
            body,
            exchange="",
            routing_key=queue,
            serializer=serializer,
            headers=headers,
            correlation_id=task_id,
            **extra,
        )


def _wait_for_log(system: System, text: str, after: int, timeout: float = RECORD_TIMEOUT_S) -> str:
    """The log past offset `after` once it contains `text`; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tail = system.log()[after:]
        if text in tail:
            return tail
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not logged by the {system.name} worker:\n{tail[-3000:]}")


def test_raw_malformed_messages_are_recorded_or_dead_lettered_and_the_worker_survives(
    hostile: Hostile,
) -> None:
    """Messages that bypass the producer: bad jobs, no job id, oversized, pickled, not JSON."""
    system, batch = hostile.off, uuid.uuid4().hex
    good = str(hostile.good)
    start = len(system.log())
    client = system.client
    # (a) a job without a ref, with a valid job id: an invalid_message record.
    _publish(system.broker_url, {"job": {"job_id": f"{batch}:0", "batch_id": batch}})
    # (b) a job without a job id: no record can be written; dead-lettered.
    _publish(system.broker_url, {"job": {"batch_id": batch, "ref": good}})
    # (c) an oversized message: a 2 MB reference, with a job id.
    huge = "/" + "a" * (2 * 1024 * 1024)
    _publish(system.broker_url, {"job": {"job_id": f"{batch}:1", "batch_id": batch, "ref": huge}})
    # (c') a job with a field the schema does not know, and one with a negative top_k.
    bogus = {"job_id": f"{batch}:2", "batch_id": batch, "ref": good, "shell": "rm -rf /"}
    _publish(system.broker_url, {"job": bogus})
    negative = {"job_id": f"{batch}:3", "batch_id": batch, "ref": good, "top_k": -1}
    _publish(system.broker_url, {"job": negative})
    # (d) a pickled message, even a well-formed one: refused (JSON only), never run.
    pickled = {"job": {"job_id": f"{batch}:4", "batch_id": batch, "ref": good}}
    _publish(system.broker_url, pickled, serializer="pickle")
    # (e) a body that is not JSON at all, and (f) a task name no worker knows.
    _publish(system.broker_url, raw_body=b'{"not": json')
    _publish(system.broker_url, {"job": {}}, task="earmark.rm_rf")
    # (g) kwargs that are not a job at all: no job id, dead-lettered.
    _publish(system.broker_url, {"job": "s3://bucket/key.wav"})

    for index in (0, 1, 2, 3):
        record = client.result(f"{batch}:{index}", wait=True, timeout=RECORD_TIMEOUT_S)
        assert record is not None, f"no record for raw job {index}"
        assert record.status == "error" and record.error is not None, record
        assert record.error.code == "invalid_message", record
    _wait_for_log(system, "dead-lettered a task message without a valid job id", start)
    _wait_for_log(system, "Refusing to deserialize untrusted content of type pickle", start)
    _wait_for_log(system, "Can't decode message body", start)
    _wait_for_log(system, "earmark.rm_rf", start)
    _assert_still_serving(system, hostile.good)
    assert client.result(f"{batch}:4") is None  # the pickled job never ran
    log = system.log()[start:]
    assert log.count("dead-lettered a task message without a valid job id") >= 2, log[-3000:]
    # Every message that names no job is dead-lettered, the refused ones too (pickle unread).
    details = [e["detail"] for e in DeadLetters(redis.Redis.from_url(system.broker_url)).entries()]
    assert len(details) >= 5, details
    for refused in (
        "job_id: Field required",
        "Refusing to deserialize untrusted content of type pickle",
        "cannot decode (application/json)",
        "earmark.rm_rf",
    ):
        assert any(refused in d for d in details), (refused, details)
    print("raw messages: 9 sent; 4 invalid_message records, 5 dead-lettered (3 refused); alive")


def test_a_malformed_bulk_chunk_still_gets_a_record_per_job(hostile: Hostile) -> None:
    """A chunk whose jobs carry valid ids but one bad field: no job may vanish without a record.

    README: "Every reference gets exactly one final record"; a malformed interactive job with a
    job id gets an ``invalid_message`` record, and so should the jobs of a malformed chunk.
    """
    system, batch = hostile.off, uuid.uuid4().hex
    jobs = [
        {"job_id": f"{batch}:0", "ref": str(hostile.good)},
        {"job_id": f"{batch}:1", "ref": str(hostile.good), "shell": "rm -rf /"},
    ]
    chunk = {"batch_id": batch, "chunk_id": "0", "jobs": jobs}
    _publish(system.broker_url, {"chunk": chunk}, task=CHUNK_TASK, queue=BULK_QUEUE)
    deadline = time.monotonic() + 10.0  # the worker fails such a chunk within milliseconds
    records = [
        system.client.result(
            job["job_id"], wait=True, timeout=max(0.0, deadline - time.monotonic())
        )
        for job in jobs
    ]
    assert system.worker.process.poll() is None
    missing = [job["job_id"] for job, record in zip(jobs, records, strict=True) if record is None]
    assert not missing, (
        f"jobs of a malformed chunk got no record: {missing}; worker log:\n" + system.log()[-2000:]
    )
