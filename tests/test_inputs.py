"""Inputs to clips (worker/inputs.py): a reference's fetch has one deadline across its tries;
every refusal names the setting that governs it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from producer.settings import Settings
from tests.models import GOLDEN_AUDIO, model_dir
from tests.servers import HttpServer
from worker.classification import pipeline

#: EARMARK_FETCH_TIMEOUT_S of the test: far below the read timeout and the retry schedule.
TOTAL_S = 2.0
#: What the model call and the good clip's fetch may add on this machine.
MARGIN_S = 5.0


def test_a_silent_server_is_cut_off_at_the_total_fetch_timeout(http_server: HttpServer) -> None:
    """Given a server that accepts and then says nothing, a 30 s read timeout and a 2 s total:
    the reference fails with `timeout` once the total has passed, and its batch-mate gets its
    record (before, each of six tries waited the full read timeout: ~200 s with a 10 s total)."""
    settings = Settings(
        model=str(model_dir("wav2vec2")),
        dtype="fp32",
        local_roots=str(GOLDEN_AUDIO),
        url_allow_private=True,
        fetch_read_timeout_s=30.0,
        fetch_timeout_s=TOTAL_S,
    )
    classify = pipeline(settings=settings)
    good = str(next(GOLDEN_AUDIO.glob("*.wav")))
    started = time.monotonic()
    silent, kept = classify.iter_records([http_server.url("/silent/30"), good])
    elapsed = time.monotonic() - started
    assert silent.error is not None and silent.error.code == "timeout", silent
    assert kept.status == "ok", kept
    assert TOTAL_S * 0.9 <= elapsed < TOTAL_S + MARGIN_S


@dataclass(frozen=True)
class Refusal:
    """One refusal of an input: the settings that make it, the input, what the record says."""

    settings: dict[str, Any]
    #: The input, made from the test HTTP server's base URL.
    given: Callable[[HttpServer], Any]
    code: str
    #: What the message must name: the setting, and its value where it helps.
    names: tuple[str, ...]


CLIP = GOLDEN_AUDIO / "tone_440hz_1000ms.wav"  # 1 s, about 32 KB
#: A password in a reference: no refusal's message may show it.
SECRET = "S3cretPw"
REFUSALS = {
    "local path outside the roots": Refusal(
        {}, lambda _: "/etc/hostname", "forbidden", ("EARMARK_LOCAL_ROOTS=", str(GOLDEN_AUDIO))
    ),
    "private URL": Refusal(
        {"url_allow_private": False},
        lambda http: http.url("/files/a.wav").replace("://", f"://u:{SECRET}@"),
        "forbidden",
        ("EARMARK_URL_ALLOW_PRIVATE=1",),
    ),
    "cloud metadata URL": Refusal(
        {"url_allow_private": True},
        lambda _: "http://169.254.169.254/latest/meta-data",
        "forbidden",
        ("EARMARK_URL_ALLOW_PRIVATE",),
    ),
    "local file over the byte cap": Refusal(
        {"max_bytes": 1000}, lambda _: str(CLIP), "too_large", ("EARMARK_MAX_BYTES", "1000")
    ),
    "URL that declares too many bytes": Refusal(
        {"max_bytes": 1000},
        lambda http: http.url("/declared/5000"),
        "too_large",
        ("EARMARK_MAX_BYTES",),
    ),
    "URL that streams too many bytes": Refusal(
        {"max_bytes": 1000},
        lambda http: http.url("/large/5000"),
        "too_large",
        ("EARMARK_MAX_BYTES",),
    ),
    "bytes over the byte cap": Refusal(
        {"max_bytes": 1000}, lambda _: CLIP.read_bytes(), "too_large", ("EARMARK_MAX_BYTES",)
    ),
    "file longer than the cap": Refusal(
        {"max_seconds": 0.5}, lambda _: str(CLIP), "too_large", ("EARMARK_MAX_SECONDS", "0.5 s")
    ),
    "array longer than the cap": Refusal(
        {"max_seconds": 0.5},
        lambda _: {"array": np.zeros(16_000, np.float32), "sampling_rate": 16_000},
        "too_large",
        ("EARMARK_MAX_SECONDS",),
    ),
    "URL slower than the fetch timeout": Refusal(
        {"fetch_timeout_s": 1.0},
        lambda http: http.url("/trickle/100"),
        "timeout",
        ("EARMARK_FETCH_TIMEOUT_S",),
    ),
}


@pytest.mark.parametrize("refusal", REFUSALS.values(), ids=list(REFUSALS))
def test_every_refusal_names_the_setting_that_governs_it(
    refusal: Refusal, http_server: HttpServer
) -> None:
    """Given an input a cap or a rule refuses, its record's message names the setting to change
    (issue #23: "outside the allowed local roots" said neither which roots nor where they are
    set), and never a credential of the reference."""
    settings = Settings.model_validate(
        {
            "model": str(model_dir("wav2vec2")),
            "dtype": "fp32",
            "fetch_retry_base_s": 0.05,
            "local_roots": str(GOLDEN_AUDIO),
            "url_allow_private": True,
            **refusal.settings,
        }
    )
    [record] = pipeline(settings=settings).iter_records([refusal.given(http_server)])
    assert record.error is not None, record
    assert record.error.code == refusal.code, record.error
    for name in refusal.names:
        assert name in record.error.message, record.error.message
    assert SECRET not in record.to_json()
