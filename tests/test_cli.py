"""The command line: `earmark classify` prints one JSON line per reference in input order; every
command exits with the README's codes and says why in one line on stderr."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

import pytest
import redis

from producer.client import Client
from producer.errors import WaitTimedOut
from producer.settings import Settings
from tests.models import GOLDEN_AUDIO, model_dir

MODEL = ["--model", str(model_dir("wav2vec2")), "--dtype", "fp32"]


def _classify(*args: str, roots: Path = GOLDEN_AUDIO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EARMARK_LOCAL_ROOTS": str(roots)}
    command = [sys.executable, "-m", "producer.cli", "classify", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_prints_one_line_per_reference_in_order_and_exits_0() -> None:
    clips = sorted(str(p) for p in GOLDEN_AUDIO.glob("*.wav"))[:3]
    done = _classify(*clips, *MODEL, "--top-k", "2", "--batch-size", "2")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["input"] for r in records] == clips
    assert all(r["status"] == "ok" and len(r["labels"]) == 2 for r in records)
    assert "job_id" not in records[0] and "batch_id" not in records[0]  # no queue fields
    assert records[0]["model"]["dtype"] == "fp32"


def test_exits_1_after_printing_every_line_when_one_fails() -> None:
    clip = str(sorted(GOLDEN_AUDIO.glob("*.wav"))[0])
    done = _classify(str(GOLDEN_AUDIO / "missing.wav"), clip, "/etc/passwd", *MODEL)
    assert done.returncode == 1
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["status"] for r in records] == ["error", "ok", "error"]
    assert [r.get("error", {}).get("code") for r in records] == ["not_found", None, "forbidden"]


@pytest.mark.parametrize(
    "bad", ["http://[::1/x.wav", "http://[zz]/x.wav", "file://[x/a.wav", "file:///a%00b.wav"]
)
def test_a_malformed_reference_gets_its_line_and_the_others_theirs(bad: str) -> None:
    """Given GOOD BAD GOOD, three lines in order, the bad one invalid_ref, exit 1: no traceback."""
    clip = str(sorted(GOLDEN_AUDIO.glob("*.wav"))[0])
    done = _classify(clip, bad, clip, *MODEL)
    assert done.returncode == 1, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["input"] for r in records] == [clip, bad, clip]
    assert [r.get("error", {}).get("code") for r in records] == [None, "invalid_ref", None]
    assert "Traceback" not in done.stderr


def test_a_url_password_with_reserved_characters_is_shown_nowhere() -> None:
    """Given URL passwords holding each reserved character (and all of them), `earmark classify`
    prints a line per reference and no part of any password on stdout or stderr."""
    passwords = [f"HUN{c}TER3" for c in ":/?#[]@!$&'()*+,;=%"] + ["HUN:/?#[]@!$&'()*+,;=%TER3"]
    refs = [f"http://alice:{pw}@127.0.0.1:9/a.wav" for pw in passwords]
    done = _classify(*refs, *MODEL)
    assert done.returncode == 1, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == len(refs) and all(r["status"] == "error" for r in records)
    assert {r["error"]["code"] for r in records} <= {"invalid_ref", "forbidden"}
    output = done.stdout + done.stderr
    assert "HUN" not in output and "TER3" not in output


def test_usage_errors_exit_2() -> None:
    assert _classify().returncode == 2  # no reference
    assert _classify("a.wav", "--top-k", "many").returncode == 2
    assert _classify("a.wav", "--model", "/nonexistent/model").returncode == 2
    assert _classify("a.wav", *MODEL, "--hop", "1").returncode == 2  # --hop needs --window


def test_windows_from_the_command_line() -> None:
    clip = str(GOLDEN_AUDIO / "chirp_down_3000ms.wav")
    done = _classify(clip, *MODEL, "--window", "1", "--hop", "0.5", "--per-window")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert [w["start_s"] for w in record["windows"]] == [0.0, 0.5, 1.0, 1.5, 2.0]


def _earmark(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EARMARK_")}
    command = [sys.executable, "-m", "producer.cli", *args]
    return subprocess.run(
        command, env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def test_an_unreachable_redis_exits_3_with_one_line() -> None:
    """Given no Redis at the configured URL, a producer command says so in one line, exit 3."""
    down = "redis://127.0.0.1:1/0"
    done = _earmark("status", "nightly", EARMARK_BROKER_URL=down, EARMARK_RESULTS_URL=down)
    assert done.returncode == 3
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("earmark: ") and "127.0.0.1:1" in line


def test_producer_refusals_exit_2_with_one_line(redis_url: str) -> None:
    """A bad batch id, an over-long reference and a bad store URL: usage errors, no traceback."""
    env = {"EARMARK_BROKER_URL": redis_url, "EARMARK_RESULTS_URL": redis_url}
    cases = [
        _earmark("enqueue", "--batch-id", "b@d", "a.wav", **env),
        _earmark("enqueue", "x" * 5000, **env),
        _earmark("status", "bad id!", **env),
        _earmark("status", "nightly", **{**env, "EARMARK_RESULTS_URL": "ftp://user:pw@host/x"}),
    ]
    for done in cases:
        assert done.returncode == 2, done.stderr
        (line,) = done.stderr.splitlines()
        assert line.startswith("earmark: ") and "Traceback" not in line and "pw@" not in line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("classify", "--bogus", "a.wav"), "No such option: --bogus"),
        (("nosuchcommand",), "No such command 'nosuchcommand'"),
        (("results",), "Missing argument"),
        (("enqueue", "--top-k", "many", "a.wav"), "Invalid value for '--top-k'"),
        (("status", "b1", "--timeout", "soon"), "Invalid value for '--timeout'"),
        (("dlq", "list", "--extra"), "No such option: --extra"),
    ],
)
def test_a_bad_flag_or_argument_exits_2_with_one_line(args: tuple[str, ...], says: str) -> None:
    """Errors the command line's parser finds read like every other error: one line, exit 2,
    naming the command's help (before, typer's boxed message spread over five lines)."""
    done = _earmark(*args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("earmark: ") and says in line and "--help" in line


def test_a_bare_command_prints_its_help_and_exits_2() -> None:
    done = _earmark()
    assert done.returncode == 2
    assert "Usage" in done.stdout + done.stderr and "enqueue" in done.stdout + done.stderr


def test_a_missing_manifest_or_folder_is_a_usage_error(redis_url: str) -> None:
    env = {"EARMARK_BROKER_URL": redis_url, "EARMARK_RESULTS_URL": redis_url}
    for flag in ("--manifest", "--dir"):
        done = _earmark("enqueue", flag, "/nonexistent/input", **env)
        assert done.returncode == 2 and "does not exist" in done.stderr
        assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback() -> None:
    done = _earmark("--debug", "status", "bad id!")
    assert done.returncode != 0 and "Traceback" in done.stderr


def test_a_bad_manifest_line_queues_nothing_and_names_the_line(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """Given a manifest whose line 290 is a 5,000-character path (after 256 good ones, a whole
    chunk): nothing is reserved or queued, and stderr names the line (before, 256 jobs were
    queued and run, the 43 after were never sent, and no batch id was printed)."""
    lines = [f"/clips/clip{n}.wav" for n in range(300)]
    lines[289] = "/" + "x" * 5000
    manifest = tmp_path / "nightly.txt"
    manifest.write_text("\n".join(lines) + "\n")
    env = {"EARMARK_BROKER_URL": redis_url, "EARMARK_RESULTS_URL": redis_url}
    done = _earmark("enqueue", "--manifest", str(manifest), "--batch-id", "nightly", **env)
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
    redis_url: str, tmp_path: Path, args: tuple[str, ...], manifest_line: str
) -> None:
    """Refusals of the whole batch leave no pending batch behind (before, the batch was
    reserved first, then the enqueue failed: status stayed pending for ever)."""
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(manifest_line + "\n")
    env = {"EARMARK_BROKER_URL": redis_url, "EARMARK_RESULTS_URL": redis_url}
    done = _earmark("enqueue", "--manifest", str(manifest), "--batch-id", "b1", *args, **env)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1
    status = _earmark("status", "b1", **env)
    assert status.returncode == 5, status.stderr  # nothing was ever reserved: an unknown batch
    assert status.stdout == ""


@pytest.mark.slow
def test_waits_without_a_worker_time_out_with_exit_4(redis_url: str) -> None:
    """Given no worker, each waiting command stops at its --timeout with exit 4 and one line
    (before, `enqueue --wait` hung for ever and `results --wait --timeout` exited 0)."""
    env = {"EARMARK_BROKER_URL": redis_url, "EARMARK_RESULTS_URL": redis_url}
    queued = _earmark(
        "enqueue", "/a.wav", "--batch-id", "nobody", "--wait", "--timeout", "2", **env
    )
    assert queued.returncode == 4, queued.stderr
    assert json.loads(queued.stdout) == {"batch_id": "nobody", "jobs": 1}
    assert "1 of 1 jobs still pending after 2 s" in queued.stderr
    for args in (
        ("results", "nobody", "--wait", "--timeout", "1"),
        ("results", "nobody:0", "--wait", "--timeout", "1"),
        ("status", "nobody", "--watch", "--timeout", "1"),
    ):
        done = _earmark(*args, **env)
        assert done.returncode == 4, (args, done.stderr)
        (line,) = done.stderr.splitlines()
        assert line.startswith("earmark: ") and "nobody" in line
    watched = _earmark("status", "nobody", "--watch", "--timeout", "1", **env)
    assert json.loads(watched.stdout.splitlines()[0])["pending"] == 1


def test_a_wait_that_sees_nothing_finish_says_so(redis_url: str, redis_client: object) -> None:
    """While jobs are pending and none finishes, the watcher says so every quiet stretch."""
    client = Client(Settings(broker_url=redis_url, results_url=redis_url))
    batch = client.submit_many(["a.wav", "b.wav"], bulk=False).batch_id
    told: list[tuple[int | None, float]] = []
    watch = client.watch(
        batch, timeout=1.6, on_stall=lambda s, quiet: told.append((s.pending, quiet))
    )
    watch.stall_s = 0.5
    with pytest.raises(WaitTimedOut, match="2 of 2 jobs still pending"):
        list(watch.records())
    assert len(told) >= 2 and all(pending == 2 and quiet >= 0.5 for pending, quiet in told)


def test_a_producer_command_loads_no_worker_code_and_help_lists_every_command() -> None:
    """`earmark status` runs without importing the worker side (it costs a producer command
    ~0.2 s a call); `earmark --help` still lists the worker's commands."""
    probe = (
        "import sys; from producer.cli import main\n"
        "sys.argv = ['earmark', '--debug', 'status', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('worker.cli' in sys.modules, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stderr.strip().splitlines()[-1] == "False", done.stderr
    listed = _earmark("--help").stdout
    for command in ("classify", "worker", "fetch-model", "optimize", "enqueue", "report"):
        assert command in listed


def _env(redis_url: str, **more: str) -> dict[str, str]:
    return {"EARMARK_BROKER_URL": redis_url, "EARMARK_RESULTS_URL": redis_url, **more}


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_enqueue_prints_what_it_sent(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, signum: int, code: int
) -> None:
    """Given a 40,000-line manifest queued one message a reference, a signal once the first
    group is out: {"batch_id", "jobs"} on stdout, and "jobs" is exactly what the ledger
    reserved and the queue holds (before, Ctrl-C exited 130 with nothing on stdout while Redis
    held thousands of jobs, and SIGTERM could stop between a reservation and its messages)."""
    manifest = tmp_path / "big.txt"
    manifest.write_text("".join(f"/data/clip{n}.wav\n" for n in range(40_000)))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EARMARK_")}
    command = [sys.executable, "-m", "producer.cli", "enqueue", "--manifest", str(manifest)]
    process = subprocess.Popen(
        [*command, "--batch-id", "big", "--interactive"],
        env={**clean, **_env(redis_url)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not redis_client.llen("earmark.interactive") and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    said = json.loads(out)
    total = int(redis_client.hget("earmark:batch:big", "total") or 0)
    assert said["batch_id"] == "big" and 0 < said["jobs"] < 40_000, (said, err)
    assert said["jobs"] == total == redis_client.llen("earmark.interactive")
    assert redis_client.hlen("earmark:outstanding:big") == total
    (line,) = err.splitlines()
    assert line == f"earmark: interrupted ({signal.Signals(signum).name})"


UNKNOWN_READS = [
    ("results", "nosuch"),
    ("results", "nosuch:0"),
    ("results", "nosuch", "--wait"),
    ("results", "nosuch:0", "--wait"),
    ("results", "nosuch", "--wait", "--timeout", "30"),
    ("status", "nosuch"),
    ("status", "nosuch", "--watch"),
    ("status", "nosuch", "--watch", "--timeout", "30"),
    ("report", "nosuch"),
    ("report", "nosuch", "--json"),
    ("report", "nosuch", "--html", "{tmp}/r.html"),
]


@pytest.mark.parametrize("args", UNKNOWN_READS, ids=[" ".join(a) for a in UNKNOWN_READS])
def test_an_unknown_id_exits_5_on_every_read_command(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """Before: `results` printed nothing and exited 0, `status` said pending null, `report` an
    empty report, and `--wait`/`--watch` waited for ever."""
    args = tuple(arg.format(tmp=tmp_path) for arg in args)
    done = _earmark(*args, **_env(redis_url))
    assert done.returncode == 5, done
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "nothing is known under that" in line and "(a typo, or expired)" in line
    assert not (tmp_path / "r.html").exists()


def test_a_batch_just_queued_is_known_and_a_job_past_its_end_is_not(
    redis_url: str, redis_client: redis.Redis
) -> None:
    env = _env(redis_url)
    assert _earmark("enqueue", "/a.wav", "/b.wav", "--batch-id", "fresh", **env).returncode == 0
    status = _earmark("status", "fresh", **env)
    assert status.returncode == 0 and json.loads(status.stdout)["pending"] == 2
    assert _earmark("results", "fresh", **env).returncode == 0
    assert _earmark("report", "fresh", "--json", **env).returncode == 0
    pending = _earmark("results", "fresh:1", **env)
    assert pending.returncode == 1 and "no result for fresh:1 yet" in pending.stderr
    past = _earmark("results", "fresh:2", "--wait", **env)
    assert past.returncode == 5 and "fresh:0 to fresh:1" in past.stderr


def test_an_empty_run_is_a_usage_error_unless_allowed(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, s3_client: Any, s3_server: str
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
        done = _earmark("enqueue", *source, "--batch-id", "e", **env)
        assert done.returncode == 2, done.stderr
        (line,) = done.stderr.splitlines()
        assert named in line and "--allow-empty" in line and done.stdout == ""
        allowed = _earmark("enqueue", *source, "--batch-id", "e", "--allow-empty", **env)
        assert allowed.returncode == 0, allowed.stderr
        assert json.loads(allowed.stdout) == {"batch_id": "e", "jobs": 0}
    status = _earmark("status", "e", "--watch", **env)
    assert status.returncode == 0
    assert json.loads(status.stdout) == {
        "batch_id": "e",
        "total": 0,
        "done": 0,
        "failed": 0,
        "pending": 0,
    }


def test_a_folder_outside_the_local_roots_is_refused_at_enqueue(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """Before, every file was queued and each came back forbidden from the worker."""
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.wav").write_bytes(b"")
    roots = f"{tmp_path / 'elsewhere'}:/srv/audio"
    done = _earmark(
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
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, line: str, says: str
) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(f"/data/a.wav\n{line}\n")
    done = _earmark("enqueue", "--manifest", str(manifest), **_env(redis_url))
    assert done.returncode == 2, done.stderr
    (said,) = done.stderr.splitlines()
    assert f"{manifest}:2: " in said and says in said
    assert redis_client.llen("earmark.bulk") == 0


def test_an_explicit_meta_field_is_the_records_meta(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """Before, it was sent as {"meta": {"meta": {"id": 7}}}."""
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"ref": "/data/a.wav", "meta": {"id": 7}}\n')
    done = _earmark("enqueue", "--manifest", str(manifest), "--interactive", **_env(redis_url))
    assert done.returncode == 0, done.stderr
    (message,) = redis_client.lrange("earmark.interactive", 0, -1)
    body = json.loads(base64.b64decode(json.loads(message)["body"]))
    assert body[1]["job"]["meta"] == {"id": 7}


def _command_function(name: str) -> Any:
    """The function `earmark NAME` runs, as main() registers it."""
    from producer.cli import commands, report
    from worker import cli

    return {
        "enqueue": commands.enqueue,
        "results": commands.results,
        "status": commands.status,
        "report": report.report,
        "classify": cli.classify,
        "worker": cli.worker,
        "fetch-model": cli.fetch_model,
        "optimize": cli.optimize,
    }[name]


def _choices(annotation: Any) -> tuple[str, ...]:
    """The choices of a parameter's annotation: a Literal's values, inside Annotated and None."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    inner = [_choices(arg) for arg in get_args(annotation) if arg is not type(None)]
    return inner[0] if len(inner) == 1 else ()


HELPED = ["enqueue", "results", "status", "report", "classify", "worker", "fetch-model", "optimize"]


@pytest.mark.parametrize("name", HELPED)
def test_help_lists_every_flag_and_the_choices_of_the_single_source(name: str) -> None:
    """Before, `fetch-model --help` said "fp32, q8 or fp16" (int8 missing) and each command
    spelled its choices out by hand; now every choice list is the Literal's, as Typer lists it."""
    import typer

    from producer.settings import Batching, Dtype
    from worker.optimize import QuantFormat
    from worker.postprocess import FunctionChoice
    from worker.windows import Aggregate

    single_source = {
        "dtype": Dtype,
        "batching": Batching,
        "function": FunctionChoice,
        "aggregate": Aggregate,
        "quant_format": QuantFormat,
    }
    function = _command_function(name)
    hints = get_type_hints(function, include_extras=True)
    shown = _earmark(name, "--help", COLUMNS="400").stdout
    one = typer.Typer(add_completion=False)
    one.command(name=name)(function)
    for param in typer.main.get_command(one).params:
        if param.opts and param.opts[0].startswith("--"):
            assert param.opts[0] in shown, (name, param.opts)
        choices = _choices(hints[param.name])
        if param.name in single_source:
            assert choices == get_args(single_source[param.name]), (name, param.name)
        if choices:
            assert "<" + "|".join(choices) + ">" in shown, (name, param.opts)


@pytest.mark.parametrize("name", ["classify", "worker", "fetch-model"])
def test_a_bad_dtype_is_one_usage_line_listing_the_dtypes(name: str) -> None:
    """Before, `--dtype q4` printed pydantic's multi-line error with its URL, and `worker`
    refused --model and --dtype outright (`Possible options: --help`)."""
    args = ["/a.wav"] if name == "classify" else []
    done = _earmark(name, *args, "--model", "/nonexistent", "--dtype", "q4")
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert "'q4' is not one of 'fp32', 'q8', 'fp16', 'int8'" in line and "http" not in line


def test_worker_takes_model_and_dtype_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`earmark worker --model M --dtype D` builds its worker from M and D, not EARMARK_MODEL
    and EARMARK_DTYPE (CONTRACT: flags override the environment); checked in process, the
    worker's assembly stopped before anything starts."""
    from worker import cli
    from worker.service import app, runtime

    monkeypatch.setattr(runtime, "tune_malloc", lambda settings: [])  # not this test's malloc
    monkeypatch.setenv("EARMARK_MODEL", "/from/the/environment")
    monkeypatch.setenv("EARMARK_DTYPE", "q8")
    built: list[Settings] = []

    def create_worker(settings: Settings, **_: object) -> None:
        built.append(settings)
        raise RuntimeError("stop before Celery")

    monkeypatch.setattr(app, "create_worker", create_worker)
    with pytest.raises(RuntimeError, match="stop before Celery"):
        cli.worker(model="/from/the/flag", dtype="fp32")
    assert (built[0].model, built[0].dtype) == ("/from/the/flag", "fp32")
    with pytest.raises(RuntimeError, match="stop before Celery"):
        cli.worker()
    assert (built[1].model, built[1].dtype) == ("/from/the/environment", "q8")
