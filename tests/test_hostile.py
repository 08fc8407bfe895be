"""Hostile references end to end: bad files, paths, schemes and URLs through real workers.

Two workers run side by side, each on its own broker database and results folder so that every
job lands on the worker it was meant for (tests/hostile_system.py):

- `off`: the production default, ``EARMARK_URL_ALLOW_PRIVATE=0``. It gets one batch of every
  hostile local file, path escape, scheme and S3 case, plus URLs on the loopback test server
  (all refused as private).
- `on`: ``EARMARK_URL_ALLOW_PRIVATE=1``, so that it can reach the test HTTP server; it gets one
  batch of the HTTP cases (statuses, caps, redirects to metadata addresses and other schemes).

Each case names the error code its record must carry (or ``ok``); afterwards each worker must
still be alive and classify a good clip. Hand-built task messages are in tests/test_malformed.py.
"""

from __future__ import annotations

import base64
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from producer.errors import InvalidArgument, UnknownId
from producer.records import ResultRecord
from producer.redact import redact_ref
from tests.corpus import hostile_files, tone_wav
from tests.hostile_system import System, assert_still_serving, start_system
from tests.servers import HttpServer

pytestmark = pytest.mark.worker

#: Seconds a batch of hostile cases may take: fetch retries of 5xx answers take 11.5-23 s, and
#: of a trickle six tries of FETCH_TIMEOUT_S more.
BATCH_TIMEOUT_S = 120.0

Case = tuple[str, str, str]  # (name, reference, expected code or "ok")


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


# --- cases ---------------------------------------------------------------------------------


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
        # A WAV's data size that overstates it is not trusted (the cap holds while decoding),
        # so only the second of audio the file holds is decoded, as the ffmpeg CLI does.
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
    wav = base64.b64encode(tone_wav(400)).decode()
    return [
        ("ftp", "ftp://example.com/clip.wav", "invalid_ref"),
        ("gopher", "gopher://example.com/1clip.wav", "invalid_ref"),
        ("data", f"data:audio/wav;base64,{wav}", "invalid_ref"),
        ("javascript", "javascript:alert(1)", "invalid_ref"),
        ("blank", "   ", "invalid_ref"),
        ("nul", "clip\x00.wav", "invalid_ref"),
        ("s3_no_key", "s3://earmark-missing-bucket", "invalid_ref"),
        # Malformed references: each fails alone, at once (before, each raised out of the batch).
        ("url_unclosed_bracket", "http://[::1/x.wav", "invalid_ref"),
        ("url_bad_bracket", "http://[zz]/x.wav", "invalid_ref"),
        ("file_url_bracket", "file://[x/a.wav", "invalid_ref"),
        ("file_url_nul_escape", "file:///tmp/a%00b.wav", "invalid_ref"),
        # Not s3://: before, the bucket name lost its first letters and another bucket was read.
        ("s3_one_slash", "s3:/earmark-missing-bucket/clip.wav", "invalid_ref"),
        ("s3_no_slash", "s3:earmark-missing-bucket/clip.wav", "invalid_ref"),
        ("s3_user_info", "s3://key:secret@earmark-missing-bucket/clip.wav", "invalid_ref"),
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
        ("redirect_to_malformed_url", url("/redirect?to=http://[::1"), "invalid_ref"),
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


# --- workers ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile(
    redis_url: str, http_server: HttpServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hostile]:
    """Both workers, ready, with the hostile files written; stopped at the end of the module."""
    tmp = tmp_path_factory.mktemp("hostile")
    root, outside, sibling = tmp / "root", tmp / "outside", tmp / "root2"
    for folder in (root / "subdir", outside / "dir", sibling):
        folder.mkdir(parents=True)
    for name, data in hostile_files().items():
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
        systems[name] = start_system(name, f"{base}/{db}", tmp, root, allow_private)
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
        assert record.input == redact_ref(refs[index])  # a password in a reference is masked
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
        assert_still_serving(system, hostile.good)


def test_the_producer_refuses_an_empty_reference(hostile: Hostile) -> None:
    """An empty reference never reaches the broker: the message schema refuses it, and the
    Client says so as InvalidArgument naming it (before, pydantic's ValidationError)."""
    client = hostile.off.client
    with pytest.raises(InvalidArgument, match=r"^ref: "):
        client.submit("")
    batch_id = uuid.uuid4().hex
    with pytest.raises(InvalidArgument, match=r"^items\[1\]: ref: "):
        client.submit_many([str(hostile.good), ""], bulk=False, batch_id=batch_id)
    # A refused submission must not leave jobs counted that will never get a record: nothing
    # at all is known of the batch.
    with pytest.raises(UnknownId):
        client.status(batch_id)
