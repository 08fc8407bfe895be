"""Fetch over HTTP(S): refuse private addresses, follow redirects by hand, cap the body.

Every hop is resolved here and its addresses checked; the connection then goes to the address
that was checked (the host name still rides in ``Host`` and in TLS SNI and certificate checks),
so a DNS answer that changes between the check and the connect cannot reach a refused address.
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from urllib.parse import SplitResult, quote, unquote, urljoin

import urllib3
from urllib3.exceptions import HTTPError, LocationParseError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from producer.errors import (
    EarmarkError,
    FetchError,
    FetchTimeout,
    Forbidden,
    InvalidReference,
    NotFound,
)
from producer.redact import redact_ref
from producer.refs import split_url
from worker.fetch.limits import (
    ALLOW_PRIVATE_SETTING,
    MAX_BYTES_SETTING,
    FetchLimits,
    timed_out,
    too_large,
    took_too_long,
)

IPAddress = IPv4Address | IPv6Address

#: Redirect statuses followed; 300 and 304 carry no single target and are errors here.
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: Bytes asked of the socket per read while streaming a body.
_CHUNK_BYTES = 64 * 1024
#: Cloud instance-metadata endpoints (AWS, AWS over IPv6, Alibaba): refused even when private
#: addresses are allowed, since credentials live there, never audio.
_METADATA = frozenset(
    ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
#: Characters left as they are when quoting a path or query: RFC 3986's reserved and unreserved
#: ones and "%", so an already-encoded URL goes out unchanged and only raw non-ASCII is encoded.
_URL_SAFE = "/%:@!$&'()*+,;=-._~?"
#: NAT64 prefix (RFC 6052): the low 32 bits are an IPv4 address that must pass the check too.
_NAT64 = ip_network("64:ff9b::/96")


def make_http_pool() -> urllib3.PoolManager:
    """The default connection pool; pass your own to share one between fetchers."""
    return urllib3.PoolManager(num_pools=32, maxsize=8, retries=False)


def fetch_url(
    http: urllib3.PoolManager, url: str, limits: FetchLimits, deadline: float | None = None
) -> bytes:
    """GET `url` under `limits`, following at most ``max_redirects`` redirects, done by
    `deadline` (``time.monotonic()``; ``limits.total_timeout_s`` from now when None): connects
    and reads wait no longer than what is left of it."""
    return b"".join(stream_url(http, url, limits, deadline))


def stream_url(
    http: urllib3.PoolManager,
    url: str,
    limits: FetchLimits,
    deadline: float | None = None,
    setting: str = MAX_BYTES_SETTING,
) -> Iterator[bytes]:
    """`fetch_url`'s body a read at a time (``math.inf`` as `deadline`: no total time, each
    read still bounded by the read timeout); ``limits.max_bytes`` is the cap `setting` sets."""
    if deadline is None:
        deadline = time.monotonic() + limits.total_timeout_s
    origin = _split(url, url)
    hop = origin
    try:
        for _ in range(limits.max_redirects + 1):
            response = _get(http, hop, origin, limits, _timeout(limits, deadline, hop))
            location = response.headers.get("Location")
            if response.status in _REDIRECTS and location:
                response.close()
                hop = _redirect_target(hop, location, url)
                continue
            try:
                yield from _read_body(response, _shown(hop), limits, deadline, setting)
                return
            finally:
                response.close()
    except EarmarkError:
        raise
    except NewConnectionError as e:  # a subclass of the timeout error in urllib3 2
        raise FetchError(f"{_shown(hop)}: cannot connect") from e
    except Urllib3Timeout as e:
        raise timed_out(_shown(hop)) from e
    except (LocationParseError, UnicodeError) as e:
        raise InvalidReference(f"{_shown(hop)}: malformed URL or host name") from e
    except (HTTPError, OSError) as e:
        raise FetchError(f"{_shown(hop)}: {type(e).__name__}") from e
    raise InvalidReference(f"{_shown(url)}: more than {limits.max_redirects} redirects")


def _shown(url: str | SplitResult) -> str:
    """A URL as an error message shows it: credentials masked by the one redactor."""
    return redact_ref(url if isinstance(url, str) else url.geturl())


def address_refusal(ip: IPAddress, limits: FetchLimits) -> str | None:
    """Why `ip` may not be fetched from, or None when it may."""
    if isinstance(ip, IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = IPv4Address(int(ip) & 0xFFFFFFFF)
        ip = embedded or ip
    if ip in _METADATA:
        return f"a cloud metadata address, refused whatever {ALLOW_PRIVATE_SETTING} says"
    if limits.allow_private_urls or any(ip in ip_network(n) for n in limits.allowed_networks):
        return None
    if (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
        or ip.is_reserved or ip.is_unspecified or not ip.is_global
    ):  # fmt: skip
        return (
            "a private, loopback, link-local or reserved address"
            f" ({ALLOW_PRIVATE_SETTING}=1 allows it)"
        )
    return None


def _redirect_target(hop: SplitResult, location: str, original: str) -> SplitResult:
    """Where a redirect from `hop` to `location` goes, split and checked like the reference."""
    try:
        target = urljoin(hop.geturl(), location)  # urlsplit's ValueError on "http://[::1"
    except ValueError as e:
        raise InvalidReference(f"{_shown(original)}: redirected to a malformed URL") from e
    return _split(target, original)


def _split(url: str, original: str) -> SplitResult:
    """One hop's URL split and checked; errors name `original`, the reference as given."""
    try:
        parts = split_url(url)
    except InvalidReference as e:
        redirected = "redirected to a " if url != original else ""
        raise InvalidReference(f"{_shown(original)}: {redirected}{e}") from e
    if parts.scheme.lower() not in ("http", "https"):
        raise Forbidden(f"{_shown(original)}: redirected to a {parts.scheme or 'relative'} URL")
    if not parts.hostname:
        raise InvalidReference(f"{_shown(parts)}: no host")
    return parts


def _resolve(parts: SplitResult, limits: FetchLimits) -> str:
    """The address to connect to, after every address the host resolves to passed the check."""
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        if e.errno == socket.EAI_NONAME:
            raise NotFound(f"{_shown(parts)}: host {host!r} does not resolve") from e
        raise FetchError(f"{_shown(parts)}: resolving {host!r} failed") from e
    except UnicodeError as e:
        raise InvalidReference(f"{_shown(parts)}: malformed host name") from e
    addresses = [ip_address(str(info[4][0]).partition("%")[0]) for info in infos]
    for ip in addresses:
        if (why := address_refusal(ip, limits)) is not None:
            raise Forbidden(f"{_shown(parts)}: {host} resolves to {why}")
    return str(addresses[0])


def _timeout(limits: FetchLimits, deadline: float, hop: SplitResult) -> urllib3.Timeout:
    """The connect and read timeouts of one request: the settings, cut to the deadline."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise took_too_long(_shown(hop), limits.total_timeout_s)
    return urllib3.Timeout(
        connect=min(limits.connect_timeout_s, left), read=min(limits.read_timeout_s, left)
    )


def _get(
    http: urllib3.PoolManager,
    hop: SplitResult,
    origin: SplitResult,
    limits: FetchLimits,
    timeout: urllib3.Timeout,
) -> urllib3.BaseHTTPResponse:
    ip, https, host = _resolve(hop, limits), hop.scheme == "https", _ascii_host(hop)
    port = hop.port or (443 if https else 80)
    # Connect to the checked address; the name goes into SNI and the certificate check.
    pool = http.connection_from_host(
        ip, port, hop.scheme, pool_kwargs={"server_hostname": host} if https else None
    )
    headers = {"Host": f"{host}:{hop.port}" if hop.port else host, "User-Agent": "earmark"}
    headers["Accept-Encoding"] = "identity"  # audio does not compress; no zip bombs either
    if origin.username is not None and (hop.hostname, hop.port) == (origin.hostname, origin.port):
        # user:pass@ in the reference, sent to that host only, never to a redirect target
        pair = f"{unquote(origin.username)}:{unquote(origin.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    target = quote(hop.path or "/", safe=_URL_SAFE)
    response = pool.urlopen(
        "GET", f"{target}?{quote(hop.query, safe=_URL_SAFE)}" if hop.query else target,
        headers=headers, redirect=False, retries=False, preload_content=False,
        assert_same_host=False,
        timeout=timeout,
    )  # fmt: skip
    if response.status not in _REDIRECTS and (error := _status_error(response.status)):
        response.close()
        raise error(f"{_shown(hop)}: HTTP {response.status}")
    return response


def _ascii_host(parts: SplitResult) -> str:
    """The host as it goes on the wire: IDNA for names, brackets for IPv6 literals."""
    host = parts.hostname or ""
    return f"[{host}]" if ":" in host else host.encode("idna").decode("ascii")


def _status_error(status: int) -> type[EarmarkError] | None:
    """The error for an HTTP status; None for success and redirects."""
    if status < 300:
        return None
    if status in (404, 410):
        return NotFound
    if status in (401, 403, 407, 451):
        return Forbidden
    if status in (408, 504):
        return FetchTimeout
    if status == 429 or status >= 500:
        return FetchError
    # 300, 304, 400, 405, 414, 416, …: the server says this request will never work as sent;
    # "not found" would be a lie and no code fits better than "this reference is unusable".
    return InvalidReference


def _read_body(
    response: urllib3.BaseHTTPResponse,
    where: str,
    limits: FetchLimits,
    deadline: float,
    setting: str,
) -> Iterator[bytes]:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise too_large(where, limits.max_bytes, declared, setting)
    read = 0
    # read1: one socket read per call, so the deadline is checked between reads; read() would
    # wait for the whole chunk, a byte per read timeout.
    while chunk := response.read1(_CHUNK_BYTES):
        read += len(chunk)
        if read > limits.max_bytes:
            raise too_large(where, limits.max_bytes, setting=setting)
        if time.monotonic() > deadline:
            raise took_too_long(where, limits.total_timeout_s)
        yield chunk
