"""Fetch limits: where fetching may read from, how much, and how long it may take."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from producer import defaults
from producer.errors import FetchTimeout, Forbidden, TooLarge

#: The settings that govern each refusal, named in its message so that an operator who reads
#: the record knows what to change (issue #23). Fetching gets values, never the settings.
LOCAL_ROOTS_SETTING = "EARMARK_LOCAL_ROOTS"
ALLOW_PRIVATE_SETTING = "EARMARK_URL_ALLOW_PRIVATE"
MAX_BYTES_SETTING = "EARMARK_MAX_BYTES"
#: The byte cap of a windowed job's input, streamed rather than held (issue #22).
MAX_WINDOWED_BYTES_SETTING = "EARMARK_MAX_WINDOWED_BYTES"
TIMEOUT_SETTING = "EARMARK_FETCH_TIMEOUT_S"
REQUEST_TIMEOUT_SETTINGS = "EARMARK_FETCH_CONNECT_TIMEOUT_S, EARMARK_FETCH_READ_TIMEOUT_S"


@dataclass(frozen=True)
class FetchLimits:
    """Where fetching may read from and how much, how long and how far it may go."""

    #: Folders local references may read (EARMARK_LOCAL_ROOTS); none means no local reads.
    local_roots: tuple[str, ...]
    #: Allow URLs that resolve to private, loopback or link-local addresses.
    allow_private_urls: bool = False
    #: Largest input, in bytes.
    max_bytes: int = defaults.MAX_BYTES
    #: Seconds to wait for a TCP (and TLS) connection.
    connect_timeout_s: float = defaults.FETCH_CONNECT_TIMEOUT_S
    #: Seconds to wait for any one read from the server.
    read_timeout_s: float = defaults.FETCH_READ_TIMEOUT_S
    #: Most HTTP redirects followed for one reference.
    max_redirects: int = 5
    #: Seconds one URL fetch may take in all, so a server trickling a byte per read timeout
    #: cannot hold a worker for ever.
    total_timeout_s: float = defaults.FETCH_TIMEOUT_S
    #: Networks (CIDR) allowed even when private, e.g. an internal file server; the cloud
    #: metadata addresses stay refused whatever this says.
    allowed_networks: tuple[str, ...] = ()


def too_large(
    where: str, max_bytes: int, size: int | str | None = None, setting: str = MAX_BYTES_SETTING
) -> TooLarge:
    """`where` is over the byte cap `setting` sets: `size` bytes when known."""
    over = f"{size} bytes, over" if size is not None else "over"
    return TooLarge(f"{where}: {over} the {max_bytes}-byte cap ({setting})")


def outside_roots(path: str, roots: Sequence[str]) -> Forbidden:
    """`path` lies outside every allowed local root: the roots in force, and their setting."""
    if not roots:
        return Forbidden(f"{path}: no local reads allowed ({LOCAL_ROOTS_SETTING} is empty)")
    return Forbidden(
        f"{path}: outside the allowed local roots ({LOCAL_ROOTS_SETTING}={':'.join(roots)})"
    )


def took_too_long(where: str, total_timeout_s: float) -> FetchTimeout:
    """One fetch ran past its total time."""
    return FetchTimeout(f"{where}: took longer than {total_timeout_s:g} s ({TIMEOUT_SETTING})")


def timed_out(where: str) -> FetchTimeout:
    """A connection or a read waited past its timeout."""
    return FetchTimeout(f"{where}: timed out ({REQUEST_TIMEOUT_SETTINGS})")
