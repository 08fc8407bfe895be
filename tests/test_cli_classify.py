"""`earmark classify`, `earmark worker` and `earmark fetch-model` (worker/cli.py) on the command
line, run in this process: one JSON line per reference in input order, exit 1 when one
failed, usage errors in one line with exit 2."""

from __future__ import annotations

import json

import pytest

from producer.settings import Settings
from tests.conftest import Earmark, Ran
from tests.models import GOLDEN_AUDIO, model_dir

MODEL = ["--model", str(model_dir("wav2vec2")), "--dtype", "fp32"]


def _classify(earmark: Earmark, *args: str) -> Ran:
    return earmark("classify", *args, EARMARK_LOCAL_ROOTS=str(GOLDEN_AUDIO))


def test_prints_one_line_per_reference_in_order_and_exits_0(earmark: Earmark) -> None:
    """Catches lines out of input order, a wrong --top-k, queue fields in a local record."""
    clips = sorted(str(p) for p in GOLDEN_AUDIO.glob("*.wav"))[:3]
    done = _classify(earmark, *clips, *MODEL, "--top-k", "2", "--batch-size", "2")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["input"] for r in records] == clips
    assert all(r["status"] == "ok" and len(r["labels"]) == 2 for r in records)
    assert "job_id" not in records[0] and "batch_id" not in records[0]  # no queue fields
    assert records[0]["model"]["dtype"] == "fp32"


def test_exits_1_after_printing_every_line_when_one_fails(earmark: Earmark) -> None:
    """Catches a failed reference that stops the others, or exits 0."""
    clip = str(sorted(GOLDEN_AUDIO.glob("*.wav"))[0])
    done = _classify(earmark, str(GOLDEN_AUDIO / "missing.wav"), clip, "/etc/passwd", *MODEL)
    assert done.returncode == 1
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["status"] for r in records] == ["error", "ok", "error"]
    assert [r.get("error", {}).get("code") for r in records] == ["not_found", None, "forbidden"]


@pytest.mark.parametrize(
    "bad", ["http://[::1/x.wav", "http://[zz]/x.wav", "file://[x/a.wav", "file:///a%00b.wav"]
)
def test_a_malformed_reference_gets_its_line_and_the_others_theirs(
    earmark: Earmark, bad: str
) -> None:
    """Given GOOD BAD GOOD, three lines in order, the bad one invalid_ref, exit 1: no traceback."""
    clip = str(sorted(GOLDEN_AUDIO.glob("*.wav"))[0])
    done = _classify(earmark, clip, bad, clip, *MODEL)
    assert done.returncode == 1, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["input"] for r in records] == [clip, bad, clip]
    assert [r.get("error", {}).get("code") for r in records] == [None, "invalid_ref", None]
    assert "Traceback" not in done.stderr


def test_a_url_password_with_reserved_characters_is_shown_nowhere(earmark: Earmark) -> None:
    """Given URL passwords holding each reserved character (and all of them), `earmark classify`
    prints a line per reference and no part of any password on stdout or stderr (log records
    of WARNING and above included, as a child process prints them)."""
    passwords = [f"HUN{c}TER3" for c in ":/?#[]@!$&'()*+,;=%"] + ["HUN:/?#[]@!$&'()*+,;=%TER3"]
    refs = [f"http://alice:{pw}@127.0.0.1:9/a.wav" for pw in passwords]
    done = _classify(earmark, *refs, *MODEL)
    assert done.returncode == 1, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == len(refs) and all(r["status"] == "error" for r in records)
    assert {r["error"]["code"] for r in records} <= {"invalid_ref", "forbidden"}
    output = done.stdout + done.stderr
    assert "HUN" not in output and "TER3" not in output


def test_usage_errors_exit_2(earmark: Earmark) -> None:
    """Catches a missing reference, a bad --top-k, a missing model or a --hop without --window
    exiting otherwise than 2."""
    assert _classify(earmark).returncode == 2  # no reference
    assert _classify(earmark, "a.wav", "--top-k", "many").returncode == 2
    assert _classify(earmark, "a.wav", "--model", "/nonexistent/model").returncode == 2
    assert _classify(earmark, "a.wav", *MODEL, "--hop", "1").returncode == 2  # needs --window


@pytest.mark.parametrize("flag", ["--timeline", "--per-window"])
def test_windows_from_the_command_line(earmark: Earmark, flag: str) -> None:
    """Catches --window/--hop/--timeline (or its old spelling --per-window) not reaching the
    labeling: the record counts the windows and carries its timeline inline."""
    clip = str(GOLDEN_AUDIO / "chirp_down_3000ms.wav")
    done = _classify(earmark, clip, *MODEL, "--window", "1", "--hop", "0.5", flag)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["windows"]["count"] == 5 and record["windows"]["timeline"]
    timeline = record["timeline"]
    assert [w["start_s"] for w in timeline["windows"]] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert len(timeline["segments"]) == record["windows"]["segments"] >= 1


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (("--window", "0"), "--window: "),
        (("--window", "nan"), "--window: "),
        (("--window", "1", "--hop", "2"), "hop_s is longer than window_s"),
        (("--window", "1", "--hop", "-1"), "--hop: "),
        (("--timeline",), "need --window"),
        (("--window", "1", "--aggregate", "median"), "median"),
    ],
)
def test_a_refused_window_flag_is_one_usage_line_naming_it(
    earmark: Earmark, flags: tuple[str, ...], says: str
) -> None:
    """Catches a window flag refused with a traceback, or passed on to the model unchecked."""
    clip = str(GOLDEN_AUDIO / "chirp_down_3000ms.wav")
    done = _classify(earmark, clip, *MODEL, *flags)
    assert done.returncode == 2 and says in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["classify", "worker", "fetch-model"])
def test_a_bad_dtype_is_one_usage_line_listing_the_dtypes(earmark: Earmark, name: str) -> None:
    """Before, `--dtype q4` printed pydantic's multi-line error with its URL, and `worker`
    refused --model and --dtype outright (`Possible options: --help`)."""
    args = ["/a.wav"] if name == "classify" else []
    done = earmark(name, *args, "--model", "/nonexistent", "--dtype", "q4")
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
