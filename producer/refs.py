"""Audio references: parse the text a caller sends into a local, S3 or URL reference."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

from producer.errors import InvalidReference

#: Longest reference accepted, in characters; S3 keys stop at 1,024 bytes, URLs rarely pass 2,000.
MAX_REF_CHARS = 4096

#: What every S3 reference starts with (the scheme in any case).
_S3_PREFIX = "s3://"
#: A bucket name: S3's own rules and the older, looser ones that MinIO and others still accept;
#: never user info or a port (``s3://key:secret@bucket/…`` is no bucket).
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
#: A scheme as RFC 3986 spells it; two letters or more so that `C:\\x` is not mistaken for one.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")


@dataclass(frozen=True)
class LocalRef:
    """A file on this machine, readable only under ``EARMARK_LOCAL_ROOTS``."""

    path: str


@dataclass(frozen=True)
class S3Ref:
    """An object in an S3-compatible store."""

    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class UrlRef:
    """An ``http://`` or ``https://`` URL."""

    url: str


AudioRef = LocalRef | S3Ref | UrlRef


def parse_ref(text: str) -> AudioRef:
    """Parse one reference; raise :class:`InvalidReference` when it is none of the known kinds."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidReference("empty reference")
    if len(text) > MAX_REF_CHARS:
        raise InvalidReference(f"reference longer than {MAX_REF_CHARS} characters")
    if "\x00" in text:
        raise InvalidReference("reference contains a NUL character")
    match = _SCHEME.match(text)
    if match is None:
        return LocalRef(text)
    scheme = match.group(1).lower()
    if scheme == "file":
        return _parse_file_url(text)
    if scheme == "s3":
        return _parse_s3(text)
    if scheme in ("http", "https"):
        return _parse_url(text)
    raise InvalidReference(f"unsupported scheme {scheme!r}: use a path, s3:// or http(s)://")


def split_url(text: str) -> SplitResult:
    """`text` split as `urlsplit` splits it, host and port checked; else :class:`InvalidReference`.

    `urlsplit` and its ``hostname`` and ``port`` raise ``ValueError`` on an unclosed or bad
    bracket (``http://[::1/``, ``http://[zz]/``), a netloc that NFKC-normalizes to a delimiter,
    or a bad port; each is a bad reference, never a crash. The messages are ours: `urlsplit`'s
    quote the text, which may hold a password.
    """
    try:
        parts = urlsplit(text)
    except ValueError as e:
        raise InvalidReference("malformed URL") from e
    try:
        parts.hostname  # noqa: B018 - raises ValueError on a bracketed host that is no address
    except ValueError as e:
        raise InvalidReference("URL with a malformed [host]") from e
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as e:
        raise InvalidReference("URL with a malformed port") from e
    return parts


def _parse_file_url(text: str) -> LocalRef:
    parts = split_url(text)
    if parts.netloc not in ("", "localhost"):
        raise InvalidReference("file:// references must name a local path, not a host")
    path = unquote(parts.path)
    if not path:
        raise InvalidReference("file:// reference without a path")
    if "\x00" in path:  # %00: the NUL check on the text ran before decoding
        raise InvalidReference("file:// reference whose path decodes to a NUL character")
    return LocalRef(path)


def _parse_s3(text: str) -> S3Ref:
    # Exactly "s3://": "s3:/b/k" and "s3:b/k" once read the bucket from the wrong offset.
    if text[: len(_S3_PREFIX)].lower() != _S3_PREFIX:
        raise InvalidReference("s3 references look like s3://bucket/key")
    bucket, _, key = text[len(_S3_PREFIX) :].partition("/")
    if not _BUCKET.fullmatch(bucket) or not key:
        raise InvalidReference("s3 references look like s3://bucket/key")
    return S3Ref(bucket, key)


def _parse_url(text: str) -> UrlRef:
    if not split_url(text).hostname:
        raise InvalidReference("URL without a host")
    return UrlRef(text)
