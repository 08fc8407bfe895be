"""Fetching local files, URLs (a real HTTP server) and S3 objects (a real moto server)."""

from __future__ import annotations

import os
import socket
import uuid
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import urllib3

from producer.errors import EarmarkError
from producer.refs import LocalRef, S3Ref, UrlRef, parse_ref
from tests.servers import HttpServer
from worker.fetch import Fetcher, FetchLimits
from worker.fetch.http import address_refusal

AUDIO = b"RIFF....WAVEfmt " + bytes(range(256)) * 4


def code_of(fetcher: Fetcher, ref: str) -> str:
    """The error code fetching `ref` raises (the test fails when it succeeds)."""
    with pytest.raises(EarmarkError) as raised:
        fetcher.fetch(parse_ref(ref))
    return raised.value.code


# --- local files ---------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/{a.wav, sub/b.wav, link_in -> a.wav, link_out -> ../outside.wav}, outside.wav."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "a.wav").write_bytes(AUDIO)
    (root / "sub" / "b.wav").write_bytes(AUDIO)
    (tmp_path / "outside.wav").write_bytes(AUDIO)
    (root / "link_in").symlink_to(root / "a.wav")
    (root / "link_out").symlink_to(tmp_path / "outside.wav")
    return root


def local(root: Path, max_bytes: int = 1 << 20) -> Fetcher:
    return Fetcher(FetchLimits(local_roots=(str(root),), max_bytes=max_bytes))


def test_local_files_under_the_roots_are_read(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fetcher = local(tree)
    assert fetcher.fetch(LocalRef(str(tree / "a.wav"))) == AUDIO
    assert fetcher.fetch(LocalRef(str(tree / "sub" / ".." / "a.wav"))) == AUDIO
    assert fetcher.fetch(LocalRef(str(tree / "link_in"))) == AUDIO
    assert fetcher.fetch(parse_ref(f"file://{tree}/sub/b.wav")) == AUDIO
    monkeypatch.chdir(tree / "sub")
    assert fetcher.fetch(LocalRef("b.wav")) == AUDIO  # relative to the working directory


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("../outside.wav", "forbidden"),  # ".." out of the root
        ("sub/../../outside.wav", "forbidden"),
        ("link_out", "forbidden"),  # a symlink inside the root that points out of it
        ("missing.wav", "not_found"),
        ("a.wav/x", "not_found"),
        ("sub", "invalid_ref"),
    ],
)
def test_local_refusals(tree: Path, name: str, code: str) -> None:
    assert code_of(local(tree), str(tree / name)) == code


def test_a_root_prefix_is_not_a_root(tree: Path) -> None:
    (tree.parent / "root2").mkdir()
    (tree.parent / "root2" / "c.wav").write_bytes(AUDIO)
    assert code_of(local(tree), str(tree.parent / "root2" / "c.wav")) == "forbidden"


def test_local_too_large_and_fifo(tree: Path) -> None:
    assert code_of(local(tree, max_bytes=len(AUDIO) - 1), str(tree / "a.wav")) == "too_large"
    assert local(tree, max_bytes=len(AUDIO)).fetch(LocalRef(str(tree / "a.wav"))) == AUDIO
    os.mkfifo(tree / "pipe.wav")
    assert code_of(local(tree), str(tree / "pipe.wav")) == "invalid_ref"  # and does not hang


def test_no_roots_means_no_local_reads(tree: Path) -> None:
    assert code_of(Fetcher(FetchLimits(local_roots=())), str(tree / "a.wav")) == "forbidden"


# --- HTTP ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(http_server: HttpServer) -> HttpServer:
    (http_server.root / "a.wav").write_bytes(AUDIO)
    (http_server.root / "voix é.wav").write_bytes(AUDIO)
    return http_server


def web(**limits: Any) -> Fetcher:
    return Fetcher(FetchLimits(local_roots=(), **limits), http=urllib3.PoolManager())


#: The test server's own address, allowed explicitly; every other private address stays refused.
LOOPBACK_ONLY: dict[str, Any] = {"allowed_networks": ("127.0.0.1/32",)}


def test_http_fetch_from_loopback_needs_permission(served: HttpServer) -> None:
    url = served.url("/files/a.wav")
    assert web(allow_private_urls=True).fetch(parse_ref(url)) == AUDIO
    assert web(**LOOPBACK_ONLY).fetch(parse_ref(url)) == AUDIO
    assert code_of(web(), url) == "forbidden"


def test_non_ascii_and_encoded_paths(served: HttpServer) -> None:
    fetcher = web(**LOOPBACK_ONLY)
    assert fetcher.fetch(parse_ref(served.url("/files/voix é.wav"))) == AUDIO
    assert fetcher.fetch(parse_ref(served.url("/files/voix%20%C3%A9.wav"))) == AUDIO


def test_redirects_are_followed_and_every_hop_checked(served: HttpServer) -> None:
    def via(target: str) -> str:
        return served.url("/redirect?to=" + quote(target, safe=""))

    assert web(**LOOPBACK_ONLY).fetch(parse_ref(via("/files/a.wav"))) == AUDIO
    assert code_of(web(**LOOPBACK_ONLY), via("http://127.0.0.2:9/")) == "forbidden"
    assert code_of(web(**LOOPBACK_ONLY), via("http://[::1]:9/")) == "forbidden"
    metadata = "http://169.254.169.254/latest/meta-data/iam/"
    assert code_of(web(allow_private_urls=True), via(metadata)) == "forbidden"
    assert code_of(web(allow_private_urls=True), via("file:///etc/passwd")) == "forbidden"
    assert code_of(web(allow_private_urls=True), served.url("/loop/0")) == "invalid_ref"
    chain = web(allow_private_urls=True, max_redirects=0)
    assert code_of(chain, via("/files/a.wav")) == "invalid_ref"


@pytest.mark.parametrize(
    "location",
    ["http://[::1", "http://[zz]/a.wav", "//[::1/a.wav", "http://h:bad/", "http://[::1]:99999/"],
)
def test_a_redirect_to_a_malformed_url_is_invalid_ref(served: HttpServer, location: str) -> None:
    """urljoin and urlsplit raise ValueError on these; the reference fails alone, typed."""
    url = served.url("/redirect?to=" + quote(location, safe=""))
    assert code_of(web(allow_private_urls=True), url) == "invalid_ref"


@pytest.mark.parametrize("url", ["http://[::1/x.wav", "http://[zz]/x.wav", "http://h:bad/"])
def test_a_malformed_url_ref_built_by_hand_is_invalid_ref(url: str) -> None:
    """A `UrlRef` that never went through `parse_ref` is split and checked at the fetcher."""
    with pytest.raises(EarmarkError) as raised:
        web(allow_private_urls=True).fetch(UrlRef(url))
    assert raised.value.code == "invalid_ref"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (404, "not_found"), (410, "not_found"), (401, "forbidden"), (403, "forbidden"),
        (400, "invalid_ref"), (405, "invalid_ref"), (429, "fetch_failed"),
        (500, "fetch_failed"), (503, "fetch_failed"), (504, "timeout"),
    ],
)  # fmt: skip
def test_http_status_codes(served: HttpServer, status: int, code: str) -> None:
    assert code_of(web(allow_private_urls=True), served.url(f"/status/{status}")) == code


def test_http_byte_cap_while_streaming_and_from_content_length(served: HttpServer) -> None:
    capped = web(allow_private_urls=True, max_bytes=1_000_000)
    assert code_of(capped, served.url("/large/50000000")) == "too_large"
    assert code_of(capped, served.url("/declared/50000000")) == "too_large"
    assert len(capped.fetch(parse_ref(served.url("/large/1000000")))) == 1_000_000


def test_http_timeouts(served: HttpServer) -> None:
    slow_reads = web(allow_private_urls=True, read_timeout_s=0.2)
    assert code_of(slow_reads, served.url("/trickle/500")) == "timeout"
    # A byte every 50 ms passes each read timeout but not the total one.
    slow_total = web(allow_private_urls=True, read_timeout_s=2, total_timeout_s=0.5)
    assert code_of(slow_total, served.url("/trickle/50")) == "timeout"


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        assert code_of(web(allow_private_urls=True), f"http://127.0.0.1:{port}/") == "fetch_failed"


def test_credentials_in_urls_are_sent_but_never_shown(served: HttpServer) -> None:
    base = served.base.replace("http://", "http://user:s3cret@")
    assert web(**LOOPBACK_ONLY).fetch(parse_ref(base + "/auth")) == b"Basic dXNlcjpzM2NyZXQ="
    with pytest.raises(EarmarkError) as raised:
        web(**LOOPBACK_ONLY).fetch(parse_ref(base + "/status/500?X-Amz-Signature=t0ken"))
    assert "s3cret" not in str(raised.value) and "t0ken" not in str(raised.value)
    assert "/status/500" in str(raised.value)  # masked by the one redactor, still telling


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1", "172.16.0.1", "192.168.1.1", "127.0.0.1", "0.0.0.0", "169.254.169.254",
        "100.64.0.1", "224.0.0.1", "255.255.255.255", "240.0.0.1", "::1", "::", "fe80::1",
        "fc00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a00:1",
        "2002:7f00:1::1",
    ],
)  # fmt: skip
def test_private_and_special_addresses_are_refused(address: str) -> None:
    assert address_refusal(ip_address(address), FetchLimits(local_roots=())) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(ip_address(address), FetchLimits(local_roots=())) is None


def test_metadata_stays_refused_when_private_is_allowed() -> None:
    allowed = FetchLimits(local_roots=(), allow_private_urls=True, allowed_networks=("0.0.0.0/0",))
    assert address_refusal(ip_address("169.254.169.254"), allowed) is not None
    assert address_refusal(ip_address("10.0.0.1"), allowed) is None


# --- S3 ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bucket(s3_client: Any) -> str:
    name = f"earmark-test-{uuid.uuid4().hex[:8]}"
    s3_client.create_bucket(Bucket=name)
    s3_client.put_object(Bucket=name, Key="clips/a.wav", Body=AUDIO)
    return name


def test_s3_object_is_fetched_with_a_lazily_built_client(bucket: str, s3_client: Any) -> None:
    built = []

    def factory() -> Any:
        built.append(1)
        return s3_client

    fetcher = Fetcher(FetchLimits(local_roots=()), s3=factory)
    assert built == []
    assert fetcher.fetch(S3Ref(bucket, "clips/a.wav")) == AUDIO
    assert fetcher.fetch(parse_ref(f"s3://{bucket}/clips/a.wav")) == AUDIO
    assert built == [1]


def test_s3_errors(bucket: str, s3_client: Any) -> None:
    fetcher = Fetcher(FetchLimits(local_roots=()), s3=s3_client)
    assert code_of(fetcher, f"s3://{bucket}/clips/missing.wav") == "not_found"
    assert code_of(fetcher, f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/a.wav") == "not_found"
    small = Fetcher(FetchLimits(local_roots=(), max_bytes=len(AUDIO) - 1), s3=s3_client)
    with pytest.raises(EarmarkError) as raised:
        small.fetch(S3Ref(bucket, "clips/a.wav"))
    assert raised.value.code == "too_large"
    assert "moto-fake" not in str(raised.value)


def test_s3_unreachable_is_retryable(s3_client: Any) -> None:
    import boto3  # type: ignore[import-untyped,unused-ignore]
    from botocore.config import Config  # type: ignore[import-untyped,unused-ignore]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{s.getsockname()[1]}", region_name="us-east-1",
            aws_access_key_id="moto-fake", aws_secret_access_key="moto-fake",
            config=Config(retries={"max_attempts": 1}, connect_timeout=1),
        )  # fmt: skip
        fetcher = Fetcher(FetchLimits(local_roots=()), s3=dead)
        assert code_of(fetcher, "s3://bucket/a.wav") == "fetch_failed"
