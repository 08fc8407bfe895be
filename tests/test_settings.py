"""Settings: the delivery timers are settings, checked for consistency when read."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from producer.broker import make_celery, transport_options
from producer.settings import Settings


def test_the_delivery_timers_reach_kombu() -> None:
    """A producer's and a worker's Celery app carry the visibility timeout and restore interval
    of their settings: every process on one broker must agree on them."""
    settings = Settings(visibility_timeout_s=6, heartbeat_s=1, restore_interval_s=0.5)
    options = make_celery(settings).conf.broker_transport_options
    assert options["visibility_timeout"] == 6
    assert options["unacked_restore_interval"] == 0.5
    assert options == transport_options(settings)


@pytest.mark.parametrize(
    ("timers", "named"),
    [
        ({"visibility_timeout_s": 20, "heartbeat_s": 10}, "EARMARK_HEARTBEAT_S"),
        ({"visibility_timeout_s": 5, "heartbeat_s": 1, "restore_interval_s": 6}, "RESTORE"),
        ({"sweep_s": 0}, "sweep_s"),
        ({"sweep_confirm_s": -1}, "sweep_confirm_s"),
    ],
)
def test_inconsistent_timers_are_refused(timers: dict[str, float], named: str) -> None:
    """A heartbeat slower than a third of the visibility timeout would let a live worker's
    message be delivered twice; a restore slower than the timeout delays every recovery."""
    with pytest.raises(ValidationError, match=named):
        Settings(**timers)  # type: ignore[arg-type]


def test_the_defaults_are_consistent() -> None:
    """The production timers pass their own check."""
    settings = Settings()
    assert settings.heartbeat_s * 3 <= settings.visibility_timeout_s


def test_glibcs_malloc_variables_are_read_under_glibcs_own_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker's malloc tuning must see what glibc sees: MALLOC_ARENA_MAX, not an
    EARMARK_ spelling; a value glibc would parse is kept as text, never refused."""
    for name in ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EARMARK_MALLOC_ARENA_MAX", "4")
    unset = Settings()
    assert unset.malloc_arena_max is None and unset.malloc_mmap_threshold is None
    assert unset.glibc_tunables == ""
    monkeypatch.setenv("MALLOC_ARENA_MAX", "")  # set, though empty
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "not a number")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
    given = Settings()
    assert given.malloc_arena_max == ""
    assert given.malloc_mmap_threshold == "not a number"
    assert given.glibc_tunables == "glibc.malloc.arena_max=2"
