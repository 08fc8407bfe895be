"""Fetch limits: where fetching may read from, how much, and how long it may take."""

from __future__ import annotations

from dataclasses import dataclass

from producer import defaults


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
