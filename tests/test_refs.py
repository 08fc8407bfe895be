"""Reference parsing: every kind the README names, and a clear error for anything else."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producer.errors import InvalidReference
from producer.refs import LocalRef, S3Ref, UrlRef, parse_ref


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/data/a.wav", LocalRef("/data/a.wav")),
        ("clips/a.flac", LocalRef("clips/a.flac")),
        ("file:///data/a%20b.wav", LocalRef("/data/a b.wav")),
        ("file://localhost/data/a.wav", LocalRef("/data/a.wav")),
        ("s3://bucket/key/with/slashes.wav", S3Ref("bucket", "key/with/slashes.wav")),
        ("S3://my.bucket-1/k.wav", S3Ref("my.bucket-1", "k.wav")),
        ("http://example.com/a.wav", UrlRef("http://example.com/a.wav")),
        ("HTTPS://example.com:8443/a.wav?x=1", UrlRef("HTTPS://example.com:8443/a.wav?x=1")),
    ],
)
def test_parses_every_contract_kind(text: str, expected: object) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "ftp://host/a.wav",
        "gopher://host/",
        "data:audio/wav;base64,AAAA",
        "s3://bucket",
        "s3://bucket/",
        "s3:///key",
        "s3:/bucket/key.wav",
        "s3:bucket/key.wav",
        "s3:////bucket/key.wav",
        "s3://key:secret@bucket/k.wav",
        "s3://bucket:9000/k.wav",
        "http:///nohost",
        "http://host:notaport/a.wav",
        "file://otherhost/a.wav",
        "a\x00b.wav",
        "x" * 5000,
        # urlsplit and its hostname/port raise ValueError on these: each must fail alone
        "http://[::1/x.wav",
        "http://[zz]/x.wav",
        "http://u:p@[::1/a.wav",
        "file://[x/a.wav",
        "file://[::1]/a.wav",
        "http://a\uff03b@c/a.wav",  # a netloc that NFKC-normalizes to a "#"
        # a NUL after percent-decoding: the NUL check on the text runs before it
        "file:///a%00b.wav",
        "FILE://localhost/a%00",
    ],
)
def test_refuses_what_is_not_a_reference(text: str) -> None:
    with pytest.raises(InvalidReference) as info:
        parse_ref(text)
    assert info.value.code == "invalid_ref"


def test_s3_ref_prints_as_given() -> None:
    assert str(parse_ref("s3://b/k.wav")) == "s3://b/k.wav"


#: Pieces that URL parsers trip over: brackets, percent escapes (NUL among them), delimiters.
_PIECES = st.sampled_from(
    ["[", "]", "[::1]", "[zz]", "[v1.x]", "%", "%00", "%zz", "%5B", "%2F", "\x00", ":", "::",
     "@", "/", "//", "?", "#", ":80", ":99999", ":x", "localhost", "host", "a.wav", "\uff03",
     "\uff0f", " ", "\t", "\n", "é"]
)  # fmt: skip
#: Text shaped like a reference: a scheme prefix (any case), then pieces and free text.
_REF_SHAPED = st.builds(
    "".join,
    st.tuples(
        st.sampled_from(["", "http://", "https://", "HTTP://", "file://", "file:", "FILE:///",
                         "s3://", "S3:/", "ftp://", "http:", "//"]),
        st.lists(_PIECES | st.text(max_size=4), max_size=12).map("".join),
    ),
)  # fmt: skip


@pytest.mark.slow
@settings(max_examples=2000)
@given(st.text(max_size=300) | _REF_SHAPED)
def test_any_text_parses_or_raises_invalid_reference(text: str) -> None:
    try:
        ref = parse_ref(text)
    except InvalidReference:
        return
    assert isinstance(ref, LocalRef | S3Ref | UrlRef)
    if isinstance(ref, LocalRef):
        assert "\x00" not in ref.path  # no path a fetcher would choke on
    if isinstance(ref, UrlRef):
        parts = urlsplit(ref.url)  # what parsed splits again without a ValueError
        assert parts.hostname and (parts.port or 0) >= 0
