"""Sources of references: a manifest is refused line by line for whatever the worker would
refuse; a folder walk picks every container the decoder reads, and refuses a folder outside
the local roots."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producer.errors import ConfigError, InvalidReference
from producer.refs import LocalRef, parse_ref
from producer.sources import (
    AUDIO_EXTENSIONS,
    check_folder_readable,
    check_manifest,
    from_folder,
    from_manifest,
    from_refs,
)
from worker.audio.containers import sniff_container

#: Lines a manifest may hold that the worker's parser, or the message schema, refuses.
REFUSED = [
    "ftp://host/a.wav",
    "gopher://host/a.wav",
    "http://[::1/x.wav",
    "http://[zz]/x.wav",
    "http://host:notaport/a.wav",
    "file://otherhost/a.wav",
    "file:///a%00b.wav",
    "s3://bucket",
    "s3:/bucket/k.wav",
    "/" + "x" * 5000,
    '{"ref": 7}',
    '{"path": "/a.wav"}',
    '{"ref": "/a.wav", "meta": 7}',
    '{"ref": "/a.wav", "meta": [1, 2]}',
    '{"ref": "/a.wav", "meta": {"id": 7}, "speaker": "x"}',
    '{"ref": "/a.wav", "meta": {"x": NaN}}',
    '{"ref": "/a.wav", "meta": {"big": 1e999}}',
    '{"ref": "/a.wav"',
    '{"ref": "/a.wav", "n": ' + "9" * 5000 + "}",
    json.dumps({"ref": "/a.wav", "meta": {"deep": json.loads("[" * 17 + "]" * 17)}}),
    '{"ref": "/a.wav", "meta": ' + '{"a": ' * 1000 + "1" + "}" * 1000 + "}",
    '{"ref": "/a.wav", "m": ' + "[" * 100_000 + "]" * 100_000 + "}",
    json.dumps({"ref": "/a.wav", "blob": "x" * 20_000}),
]


def _manifest(tmp_path: Path, *lines: str | bytes) -> Path:
    path = tmp_path / "m.txt"
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))
    return path


@pytest.mark.parametrize("bad", REFUSED, ids=range(len(REFUSED)))
def test_a_line_the_worker_would_refuse_is_refused_naming_its_line(
    tmp_path: Path, bad: str
) -> None:
    """Given two good lines, a comment and then the odd one: InvalidReference naming line 4
    (before, ftp://, malformed URLs and relative paths were queued, and deep JSON escaped as
    a RecursionError)."""
    manifest = _manifest(tmp_path, "/data/a.wav", "# a comment", "s3://b/k.wav", bad)
    with pytest.raises(InvalidReference, match=rf"{manifest}:4: ") as refused:
        check_manifest(manifest)
    assert "\n" not in str(refused.value) and len(str(refused.value)) < 600


def test_a_line_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, "/data/a.wav", b"/data/\xff\xfe.wav")
    with pytest.raises(InvalidReference, match=":2: not UTF-8"):
        check_manifest(manifest)


_ODD_TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=0, max_size=60).filter(
    lambda t: "\n" not in t and "\r" not in t
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(line=st.one_of(_ODD_TEXT, _ODD_TEXT.map(lambda t: json.dumps({"ref": t}))))
def test_every_line_is_refused_by_its_number_or_parsed_as_the_worker_would(
    tmp_path: Path, line: str
) -> None:
    """Whatever a line holds, the check refuses it naming its line, or the worker's own parser
    reads its reference as an absolute path, an s3:// object or a URL."""
    manifest = _manifest(tmp_path, line)
    try:
        count = check_manifest(manifest)
    except InvalidReference as e:
        assert f"{manifest}:1: " in str(e)
        return
    for item in from_manifest(manifest):
        parsed = parse_ref(item.ref)
        assert not isinstance(parsed, LocalRef) or os.path.isabs(parsed.path)
    assert count == len(list(from_manifest(manifest)))


def test_an_explicit_meta_field_is_the_meta_and_other_fields_are_meta_together(
    tmp_path: Path,
) -> None:
    """Before, ``{"ref", "meta": {"id": 7}}`` came back as ``{"meta": {"meta": {"id": 7}}}``."""
    manifest = _manifest(
        tmp_path,
        "\ufeff/d.wav",  # a byte-order mark opening the file is no part of the reference
        '{"ref": "/a.wav", "meta": {"id": 7}}',
        '{"ref": "/b.wav", "speaker": "x", "id": 8}',
        '{"ref": "/c.wav", "meta": null}',
    )
    assert check_manifest(manifest) == 4
    assert [(i.ref, i.meta) for i in from_manifest(manifest)] == [
        ("/d.wav", None),
        ("/a.wav", {"id": 7}),
        ("/b.wav", {"speaker": "x", "id": 8}),
        ("/c.wav", None),
    ]


def test_a_relative_path_is_queued_absolute_against_the_enqueue_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, ``clips/a.wav`` was queued as written and read from each worker's own working
    directory (failing there, or reading another file); then it was refused. It is what the
    shell that typed it means: the path under the directory `earmark enqueue` runs in."""
    monkeypatch.chdir(tmp_path)
    manifest = _manifest(tmp_path, "clips/a.wav", '{"ref": "./b.wav", "id": 1}', "/c.wav")
    queued = [i.ref for i in from_manifest(manifest)] + [i.ref for i in from_refs(["d.wav"])]
    assert queued == [
        str(tmp_path / "clips" / "a.wav"),
        str(tmp_path / "b.wav"),
        "/c.wav",
        str(tmp_path / "d.wav"),
    ]
    assert [i.ref for i in from_refs(["s3://b/k.wav", "file:///e.wav"])] == [
        "s3://b/k.wav",
        "file:///e.wav",
    ]


#: The first bytes of a file of each extension, as its usual encoder writes them.
HEADERS = {
    ".wav": b"RIFF\x24\x00\x00\x00WAVEfmt ",
    ".wave": b"RIFF\x24\x00\x00\x00WAVEfmt ",
    ".bwf": b"RF64\xff\xff\xff\xffWAVEds64",
    ".flac": b"fLaC\x00\x00\x00\x22",
    ".ogg": b"OggS\x00\x02\x00\x00",
    ".oga": b"OggS\x00\x02\x00\x00",
    ".opus": b"OggS\x00\x02\x00\x00",
    ".spx": b"OggS\x00\x02\x00\x00",
    ".mka": b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81",
    ".webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81",
    ".mkv": b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81",
    ".aif": b"FORM\x00\x00\x0c\xaeAIFF",
    ".aiff": b"FORM\x00\x00\x0c\xaeAIFF",
    ".aifc": b"FORM\x00\x00\x0c\xaeAIFC",
    ".caf": b"caff\x00\x01\x00\x00desc",
    ".amr": b"#!AMR\n",
    ".wma": b"\x30\x26\xb2\x75\x8e\x66\xcf\x11",
    ".asf": b"\x30\x26\xb2\x75\x8e\x66\xcf\x11",
    ".mp3": b"ID3\x04\x00\x00\x00\x00",
    ".aac": b"\xff\xf1\x50\x80",
    ".m4a": b"\x00\x00\x00\x20ftypM4A ",
    ".m4b": b"\x00\x00\x00\x20ftypM4B ",
    ".mp4": b"\x00\x00\x00\x20ftypisom",
    ".mov": b"\x00\x00\x00\x14ftypqt  ",
    ".3gp": b"\x00\x00\x00\x14ftyp3gp4",
    ".3g2": b"\x00\x00\x00\x14ftyp3g2a",
}


def test_the_folder_extensions_are_the_containers_the_decoder_reads() -> None:
    """Every extension a folder walk picks is read by the decoder (its magic numbers sniffed);
    AU and Wave64 are not (unsupported_format), so a folder walk leaves them: when the decoder
    learns them, this fails, and AUDIO_EXTENSIONS takes them."""
    assert set(HEADERS) == AUDIO_EXTENSIONS
    assert {
        ext: sniff_container(head) for ext, head in HEADERS.items() if not sniff_container(head)
    } == {}
    assert sniff_container(b".snd\x00\x00\x00\x20\x00\x00\x0c\x80") is None  # AU
    assert sniff_container(b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb") is None  # Wave64


def test_a_folder_walk_lists_one_of_each_container(tmp_path: Path) -> None:
    """Before, CAF, AMR, WMA and MKA files (among others) were skipped without a word."""
    names = sorted(f"clip{ext.upper() if n % 2 else ext}" for n, ext in enumerate(HEADERS))
    (tmp_path / "sub").mkdir()
    for name in names:
        (tmp_path / "sub" / name).write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not audio")
    listed = [item.ref for item in from_folder(tmp_path)]
    assert sorted(listed) == [str((tmp_path / "sub" / name).resolve()) for name in names]


def test_a_folder_outside_the_local_roots_is_refused_naming_the_setting(tmp_path: Path) -> None:
    inside, outside = tmp_path / "roots" / "clips", tmp_path / "elsewhere"
    inside.mkdir(parents=True)
    outside.mkdir()
    roots = [str(tmp_path / "roots"), "/nonexistent"]
    check_folder_readable(inside, roots, roots_set=True)
    with pytest.raises(ConfigError, match="EARMARK_LOCAL_ROOTS") as refused:
        check_folder_readable(outside, roots, roots_set=True)
    assert str(tmp_path / "roots") in str(refused.value)
    (tmp_path / "roots" / "link").symlink_to(outside)  # resolved, as a worker resolves it
    with pytest.raises(ConfigError):
        check_folder_readable(tmp_path / "roots" / "link", roots, roots_set=True)
    with pytest.raises(ConfigError, match="unset: a worker's working directory"):
        check_folder_readable(outside, [str(inside)], roots_set=False)
