"""`earmark enqueue` (producer/cli/commands.py) on the command line, run in this process:
refusals of the whole batch exit 2 with one line and leave nothing reserved or queued."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import Earmark


def _env(redis_url: str, **more: str) -> dict[str, str]:
    return {"EARMARK_BROKER_URL": redis_url, "EARMARK_RESULTS_URL": redis_url, **more}


def test_producer_refusals_exit_2_with_one_line(earmark: Earmark, redis_url: str) -> None:
    """A bad batch id, an over-long reference and a bad store URL: usage errors, no traceback,
    no password."""
    env = _env(redis_url)
    cases = [
        earmark("enqueue", "--batch-id", "b@d", "a.wav", **env),
        earmark("enqueue", "x" * 5000, **env),
        earmark("status", "bad id!", **env),
        earmark("status", "nightly", **{**env, "EARMARK_RESULTS_URL": "ftp://user:pw@host/x"}),
    ]
    for done in cases:
        assert done.returncode == 2, done.stderr
        (line,) = done.stderr.splitlines()
        assert line.startswith("earmark: ") and "Traceback" not in line and "pw@" not in line


def test_a_missing_manifest_or_folder_is_a_usage_error(earmark: Earmark, redis_url: str) -> None:
    """Catches a missing --manifest or --dir exiting otherwise than 2, or with a traceback."""
    for flag in ("--manifest", "--dir"):
        done = earmark("enqueue", flag, "/nonexistent/input", **_env(redis_url))
        assert done.returncode == 2 and "does not exist" in done.stderr
        assert "Traceback" not in done.stderr


def test_a_bad_manifest_line_queues_nothing_and_names_the_line(
    earmark: Earmark, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """Given a manifest whose line 290 is a 5,000-character path (after 256 good ones, a whole
    chunk): nothing is reserved or queued, and stderr names the line (before, 256 jobs were
    queued and run, the 43 after were never sent, and no batch id was printed)."""
    lines = [f"/clips/clip{n}.wav" for n in range(300)]
    lines[289] = "/" + "x" * 5000
    manifest = tmp_path / "nightly.txt"
    manifest.write_text("\n".join(lines) + "\n")
    env = _env(redis_url)
    done = earmark("enqueue", "--manifest", str(manifest), "--batch-id", "nightly", **env)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert f"{manifest}:290" in line
    assert redis_client.llen("earmark.bulk") == 0
    assert not redis_client.exists("earmark:batch:nightly")


@pytest.mark.parametrize(
    ("args", "manifest_line"),
    [
        (("--top-k", "-1"), "/a.wav"),
        ((), json.dumps({"ref": "/a.wav", "meta": {"deep": json.loads("[" * 300 + "]" * 300)}})),
        ((), json.dumps({"ref": "/a.wav", "meta": {"blob": "x" * 10_000_000}})),
    ],
    ids=["negative_top_k", "meta_300_deep", "meta_10MB"],
)
def test_refused_before_anything_is_reserved(
    earmark: Earmark,
    redis_url: str,
    redis_client: redis.Redis,
    tmp_path: Path,
    args: tuple[str, ...],
    manifest_line: str,
) -> None:
    """Refusals of the whole batch leave no pending batch behind (before, the batch was
    reserved first, then the enqueue failed: status stayed pending for ever)."""
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(manifest_line + "\n")
    env = _env(redis_url)
    done = earmark("enqueue", "--manifest", str(manifest), "--batch-id", "b1", *args, **env)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1
    status = earmark("status", "b1", **env)
    assert status.returncode == 5, status.stderr  # nothing was ever reserved: an unknown batch
    assert status.stdout == ""


def test_an_empty_run_is_a_usage_error_unless_allowed(
    earmark: Earmark,
    redis_url: str,
    redis_client: redis.Redis,
    tmp_path: Path,
    s3_client: Any,
    s3_server: str,
) -> None:
    """An empty folder, manifest or prefix: exit 2, one line naming it (before: exit 0 and a
    batch of 0 jobs nobody could tell from a typo). With --allow-empty: jobs 0, and a batch
    that reads as complete."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "m.txt").write_text("# nothing tonight\n\n")
    s3_client.create_bucket(Bucket="quiet")
    aws = {"AWS_ENDPOINT_URL": s3_server, "AWS_ACCESS_KEY_ID": "moto", "AWS_SECRET_ACCESS_KEY": "m"}
    env = _env(redis_url, EARMARK_LOCAL_ROOTS=str(tmp_path), AWS_DEFAULT_REGION="us-east-1", **aws)
    for source, named in [
        (("--dir", str(tmp_path / "empty")), f"no audio file under {tmp_path / 'empty'}"),
        (("--manifest", str(tmp_path / "m.txt")), f"manifest {tmp_path / 'm.txt'} lists no"),
        (("--s3-prefix", "s3://quiet/night/"), "no audio object under s3://quiet/night/"),
    ]:
        done = earmark("enqueue", *source, "--batch-id", "e", **env)
        assert done.returncode == 2, done.stderr
        (line,) = done.stderr.splitlines()
        assert named in line and "--allow-empty" in line and done.stdout == ""
        allowed = earmark("enqueue", *source, "--batch-id", "e", "--allow-empty", **env)
        assert allowed.returncode == 0, allowed.stderr
        assert json.loads(allowed.stdout) == {"batch_id": "e", "jobs": 0}
    status = earmark("status", "e", "--watch", **env)
    assert status.returncode == 0
    assert json.loads(status.stdout) == {
        "batch_id": "e",
        "total": 0,
        "done": 0,
        "failed": 0,
        "pending": 0,
    }


def test_a_folder_outside_the_local_roots_is_refused_at_enqueue(
    earmark: Earmark, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """Before, every file was queued and each came back forbidden from the worker."""
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.wav").write_bytes(b"")
    roots = f"{tmp_path / 'elsewhere'}:/srv/audio"
    done = earmark(
        "enqueue", "--dir", str(tmp_path / "clips"), **_env(redis_url, EARMARK_LOCAL_ROOTS=roots)
    )
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert f"EARMARK_LOCAL_ROOTS ({roots})" in line
    assert redis_client.llen("earmark.bulk") == 0


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("ftp://host/a.wav", "unsupported scheme 'ftp'"),
        ("http://[::1/x.wav", "malformed"),
        ('{"ref": "/a.wav", "meta": ' + "[" * 1000 + "]" * 1000 + "}", "nested too deep"),
    ],
)
def test_a_manifest_line_the_worker_would_refuse_exits_2_naming_it(
    earmark: Earmark,
    redis_url: str,
    redis_client: redis.Redis,
    tmp_path: Path,
    line: str,
    says: str,
) -> None:
    """Catches a line the worker would refuse being queued, or refused without its place."""
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(f"/data/a.wav\n{line}\n")
    done = earmark("enqueue", "--manifest", str(manifest), **_env(redis_url))
    assert done.returncode == 2, done.stderr
    (said,) = done.stderr.splitlines()
    assert f"{manifest}:2: " in said and says in said
    assert redis_client.llen("earmark.bulk") == 0


def test_an_explicit_meta_field_is_the_records_meta(
    earmark: Earmark, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """Before, it was sent as {"meta": {"meta": {"id": 7}}}."""
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"ref": "/data/a.wav", "meta": {"id": 7}}\n')
    done = earmark("enqueue", "--manifest", str(manifest), "--interactive", **_env(redis_url))
    assert done.returncode == 0, done.stderr
    (message,) = redis_client.lrange("earmark.interactive", 0, -1)
    body = json.loads(base64.b64decode(json.loads(message)["body"]))
    assert body[1]["job"]["meta"] == {"id": 7}


def _bodies(redis_client: redis.Redis, queue: str) -> list[Any]:
    return [
        json.loads(base64.b64decode(json.loads(message)["body"]))[1]
        for message in redis_client.lrange(queue, 0, -1)
    ]


def test_the_window_flags_reach_every_message_and_a_manifest_line_keeps_its_own(
    earmark: Earmark, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """Catches --window/--hop/--aggregate/--timeline/--threshold not reaching the task message
    (a chunk's window), and a manifest line's window keys taken as meta or overridden."""
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"ref": "/a.wav", "window_s": 2.5, "site": 1}\n/b.wav\n')
    flags = ("--window", "1", "--hop", "0.5", "--aggregate", "max", "--timeline")
    done = earmark(
        "enqueue", "--manifest", str(manifest), *flags, "--threshold", "0.6", **_env(redis_url)
    )
    assert done.returncode == 0, done.stderr
    (body,) = _bodies(redis_client, "earmark.bulk")
    chunk = body["chunk"]
    assert chunk["window"] == {
        "window_s": 1.0, "hop_s": 0.5, "aggregate": "max", "timeline": True, "threshold": 0.6
    }  # fmt: skip
    first, second = chunk["jobs"]
    assert first["window"]["window_s"] == 2.5 and first["meta"] == {"site": 1}
    assert second["window"] is None  # the chunk's applies
    done = earmark("enqueue", "/c.wav", "--interactive", "--window", "2", **_env(redis_url))
    assert done.returncode == 0, done.stderr
    (job,) = [b["job"] for b in _bodies(redis_client, "earmark.interactive")]
    assert job["window"]["window_s"] == 2.0 and job["window"]["timeline"] is False


@pytest.mark.parametrize(
    "flags", [("--window", "-1"), ("--window", "1", "--hop", "5"), ("--hop", "1")]
)
def test_a_refused_window_flag_queues_nothing(
    earmark: Earmark, redis_url: str, redis_client: redis.Redis, flags: tuple[str, ...]
) -> None:
    """Catches a bad window flag refused only by the worker (a whole batch of invalid_message
    records) instead of at enqueue, with exit 2 and nothing reserved."""
    done = earmark("enqueue", "/a.wav", "--batch-id", "w", *flags, **_env(redis_url))
    assert done.returncode == 2, done.stderr
    assert redis_client.llen("earmark.bulk") == 0 and not redis_client.exists("earmark:batch:w")
