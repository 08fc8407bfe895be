"""Confined local reads (worker/fetch/local.py) under a changing file system: real files, a real
Unix socket and a thread that swaps a directory for a symlink while the reads go on."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from producer.errors import EarmarkError
from producer.refs import LocalRef
from worker.fetch import Fetcher, FetchLimits

INSIDE, OUTSIDE = b"inside " * 64, b"OUTSIDE" * 64
#: How long the swap race runs, in seconds.
RACE_S = 2.5


def local(root: Path) -> Fetcher:
    return Fetcher(FetchLimits(local_roots=(str(root),), max_bytes=1 << 20))


def error_of(fetcher: Fetcher, path: str) -> EarmarkError:
    """The earmark error reading `path` raises (the test fails when it succeeds)."""
    with pytest.raises(EarmarkError) as raised:
        fetcher.fetch(LocalRef(path))
    return raised.value


@pytest.fixture
def swapped(tmp_path: Path) -> Path:
    """root/d/x.wav (INSIDE), outside/x.wav (OUTSIDE), and root/d.link -> outside, unused yet."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    outside.mkdir()
    (root / "d" / "x.wav").write_bytes(INSIDE)
    (outside / "x.wav").write_bytes(OUTSIDE)
    (root / "d.link").symlink_to(outside, target_is_directory=True)
    return root


@pytest.fixture
def flipping(swapped: Path) -> Iterator[Path]:
    """A thread that turns root/d into the symlink to outside and back, as fast as it can."""
    stop = threading.Event()

    def flip() -> None:
        d, real, link = swapped / "d", swapped / "d.real", swapped / "d.link"
        while not stop.is_set():
            d.rename(real)  # d: gone, then the symlink to outside
            link.rename(d)
            d.rename(link)  # d: gone, then the real directory again
            real.rename(d)

    flipper = threading.Thread(target=flip, daemon=True)
    flipper.start()
    try:
        yield swapped
    finally:
        stop.set()
        flipper.join(timeout=5)


def race(fetcher: Fetcher, path: str, seconds: float) -> Counter[str]:
    """Read `path` for `seconds`: counts of "inside", "outside" and each error code."""
    seen: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = fetcher.fetch(LocalRef(path))
        except EarmarkError as e:
            seen[e.code] += 1
        except Exception as e:  # counted: the test asserts there are none
            seen[f"untyped {type(e).__name__}"] += 1
        else:
            seen["outside" if data == OUTSIDE else "inside" if data == INSIDE else "other"] += 1
    return seen


def test_a_directory_swapped_for_a_symlink_is_never_followed(flipping: Path) -> None:
    """Given root/d flipping between a directory and a symlink out of the root, reading
    root/d/x.wav in a loop never returns the outside file, and every failure is typed."""
    seen = race(local(flipping), str(flipping / "d" / "x.wav"), RACE_S)
    assert seen["outside"] == 0, seen
    assert not [kind for kind in seen if kind.startswith("untyped") or kind == "other"], seen
    assert seen["inside"] > 0 and seen["forbidden"] > 0, seen  # the race did run both ways


def test_a_unix_socket_is_refused_at_once_and_for_good(tmp_path: Path) -> None:
    """open() on a socket gives ENXIO: a permanent invalid_ref, not ~24 s of fetch retries."""
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "sock.wav"))
        started = time.monotonic()
        error = error_of(local(tmp_path), str(tmp_path / "sock.wav"))
    assert (error.code, error.retryable) == ("invalid_ref", False)
    assert time.monotonic() - started < 1.0


def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.wav")
    assert error_of(local(tmp_path), str(tmp_path / "pipe.wav")).code == "invalid_ref"


def test_a_vanished_working_directory_is_not_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative path whose working directory was removed: os.getcwd() raises; we don't."""
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    assert error_of(local(tmp_path), "a.wav").code == "not_found"


def test_a_nul_in_a_hand_built_path_is_invalid_ref(tmp_path: Path) -> None:
    """realpath raises ValueError on a NUL; a LocalRef that skipped parse_ref fails typed."""
    assert error_of(local(tmp_path), f"{tmp_path}/a\x00b.wav").code == "invalid_ref"


def test_symlinks_that_stay_inside_the_roots_still_work(tmp_path: Path) -> None:
    """The walk follows the resolved path: links inside a root, and a root named by a link."""
    (tmp_path / "root" / "sub").mkdir(parents=True)
    (tmp_path / "root" / "sub" / "b.wav").write_bytes(INSIDE)
    (tmp_path / "root" / "alias").symlink_to(tmp_path / "root" / "sub")
    (tmp_path / "root_link").symlink_to(tmp_path / "root")
    for fetcher in (local(tmp_path / "root"), local(tmp_path / "root_link")):
        assert fetcher.fetch(LocalRef(str(tmp_path / "root" / "alias" / "b.wav"))) == INSIDE
        assert fetcher.fetch(LocalRef(str(tmp_path / "root_link" / "sub" / "b.wav"))) == INSIDE
    assert error_of(local(tmp_path / "root"), str(tmp_path / "root")).code == "invalid_ref"
