"""Inputs to clips (worker/inputs.py): a reference's fetch has one deadline across its tries."""

from __future__ import annotations

import time

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
