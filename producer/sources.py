"""Sources of references for bulk runs: arguments, manifests, folders and S3 prefixes.

Every source streams: a million-line manifest or prefix is never held in memory at once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from producer.errors import ConfigError, InvalidReference
from producer.messages import JobSpec, describe_invalid
from producer.redact import redact_ref
from producer.refs import AudioRef, LocalRef, parse_ref
from producer.windowing import WindowOptions

#: The keys of a manifest line that are its window options, not its ``meta``.
WINDOW_KEYS = tuple(WindowOptions.model_fields)

#: Extensions a folder walk or a prefix listing picks up (lower case): one for every container
#: the worker's decoder reads, which it picks from the bytes' magic numbers, never the name
#: (`worker/audio/containers.py`, ``sniff_container``; tests/test_sources.py holds the two
#: together). AU (``.au``, ``.snd``) and Wave64 (``.w64``) are not among them: the decoder
#: answers ``unsupported_format`` for both, so a folder of them queues nothing.
AUDIO_EXTENSIONS = frozenset(
    {
        *(".wav", ".wave", ".bwf"),  # RIFF or RF64 WAVE
        *(".flac",),
        *(".ogg", ".oga", ".opus", ".spx"),  # Ogg
        *(".mka", ".webm", ".mkv"),  # Matroska
        *(".aif", ".aiff", ".aifc"),  # AIFF
        *(".caf",),  # Core Audio Format
        *(".amr",),
        *(".wma", ".asf"),  # ASF
        *(".mp3",),
        *(".aac",),  # ADTS
        *(".m4a", ".m4b", ".mp4", ".mov", ".3gp", ".3g2"),  # ISO base media (QuickTime)
    }
)


@dataclass(frozen=True)
class SourceItem:
    """One reference to queue, with the caller's fields to carry into its record."""

    ref: str
    meta: dict[str, Any] | None = None
    #: Sliding windows for this reference (a manifest line's window keys), else the batch's.
    window: WindowOptions | None = None


def from_refs(refs: Iterable[str]) -> Iterator[SourceItem]:
    """References given one by one, relative paths made absolute (`absolute_ref`)."""
    for ref in refs:
        yield SourceItem(absolute_ref(ref))


def check_refs(refs: Iterable[str]) -> None:
    """:class:`InvalidReference` naming the first reference an enqueue would refuse."""
    for position, ref in enumerate(refs, start=1):
        try:
            check_queued_ref(ref)
        except InvalidReference as e:
            raise InvalidReference(f"reference {position} ({redact_ref(ref)[:200]}): {e}") from e


def check_queued_ref(ref: str) -> AudioRef:
    """`ref` parsed by the worker's own parser (`producer.refs`): what it would refuse."""
    return parse_ref(ref)


def absolute_ref(ref: str) -> str:
    """`ref`, a relative local path made absolute against the current directory, as ``cp``
    would read it: a queued job is read by a worker elsewhere, whose own working directory
    would otherwise decide what ``clips/a.wav`` means. Anything else is returned as given."""
    try:
        parsed = parse_ref(ref)
    except InvalidReference:
        return ref  # refused by the check before anything is queued, or by the worker
    if isinstance(parsed, LocalRef) and not os.path.isabs(parsed.path):
        return os.path.abspath(parsed.path)
    return ref


def from_manifest(path: Path) -> Iterator[SourceItem]:
    """A manifest: one reference a line, or JSON lines with a ``ref`` field and either a
    ``meta`` object (the record's ``meta``) or other fields (which together are its ``meta``).
    A relative path is made absolute against the current directory (`absolute_ref`)."""
    for number, text in _lines(path):
        item = _manifest_item(text, f"{path}:{number}")
        yield SourceItem(absolute_ref(item.ref), item.meta, item.window)


def check_manifest(path: Path) -> int:
    """How many references a manifest holds, once every line is known good; else
    :class:`InvalidReference` naming the first bad line (nothing has been queued yet)."""
    count = 0
    for number, text in _lines(path):
        where = f"{path}:{number}"
        item = _manifest_item(text, where)
        try:
            check_queued_ref(item.ref)
            JobSpec(job_id="manifest:0", ref=item.ref, meta=item.meta, window=item.window)
        except InvalidReference as e:
            raise InvalidReference(f"{where}: ref: {e}") from e
        except ValidationError as e:
            raise InvalidReference(f"{where}: {describe_invalid(e)}") from e
        count += 1
    return count


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Each line's number and text, blank lines and ``#`` comments skipped; a line that is not
    UTF-8 is named (decoded line by line: a file's decoder would fail at a buffer's edge)."""
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
            except UnicodeDecodeError as e:
                raise InvalidReference(f"{path}:{number}: not UTF-8 text ({e.reason})") from e
            if text and not text.startswith("#"):
                yield number, text


def _manifest_item(text: str, where: str) -> SourceItem:
    if not text.startswith("{"):
        return SourceItem(text)
    fields = _json_object(text, where)
    ref = fields.pop("ref", None)
    if not isinstance(ref, str):
        raise InvalidReference(f"{where}: a JSON line needs a string 'ref' field")
    window = _window(fields, where)
    if "meta" not in fields:
        return SourceItem(ref, fields or None, window)
    meta = fields.pop("meta")
    if fields:
        raise InvalidReference(
            f"{where}: a line with a 'meta' field holds no other fields besides 'ref'"
            f" (move {', '.join(sorted(fields))} into meta)"
        )
    if meta is not None and not isinstance(meta, dict):
        raise InvalidReference(f"{where}: 'meta' is a JSON object, not {type(meta).__name__}")
    return SourceItem(ref, meta or None, window)


def _window(fields: dict[str, Any], where: str) -> WindowOptions | None:
    """The line's window keys (``window_s``, ``hop_s``, ``aggregate``, ``timeline``,
    ``threshold``), taken out of `fields`, as the reference's window options."""
    keys = {key: fields.pop(key) for key in WINDOW_KEYS if key in fields}
    if not keys:
        return None
    try:
        return WindowOptions.model_validate(keys)
    except ValidationError as e:
        raise InvalidReference(f"{where}: {describe_invalid(e, whole='window')}") from e


def _json_object(text: str, where: str) -> dict[str, Any]:
    """The line's JSON object. Nesting too deep for the parser's stack is refused as any bad
    line is (a RecursionError once escaped as exit 1); nesting it can parse meets ``meta``'s
    caps (`producer.messages.check_meta`), which say the limit."""
    try:
        fields = json.loads(text)
    except RecursionError as e:
        raise InvalidReference(f"{where}: JSON nested too deep to read") from e
    except ValueError as e:
        raise InvalidReference(f"{where}: not JSON: {' '.join(str(e).split())[:200]}") from e
    if not isinstance(fields, dict):
        raise InvalidReference(f"{where}: a JSON line is an object with a 'ref' field")
    return fields


def from_folder(folder: Path) -> Iterator[SourceItem]:
    """The files under a folder whose extension is in ``AUDIO_EXTENSIONS`` (any case; one for
    each container the decoder reads), walked in the same order every run so that reruns queue
    the same ids; symlinked folders are not entered."""
    stack = [folder.resolve()]
    while stack:
        current = stack.pop()
        with os.scandir(current) as entries:
            ordered = sorted(entries, key=lambda entry: entry.name, reverse=True)
        for entry in ordered:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif Path(entry.name).suffix.lower() in AUDIO_EXTENSIONS:
                yield SourceItem(entry.path)


def check_folder_readable(folder: Path, roots: Sequence[str], roots_set: bool) -> None:
    """:class:`ConfigError` unless `folder` lies under one of `roots`, checked as a worker
    checks a local path (`worker/fetch/local.py`: both resolved, then compared by path
    component); when ``EARMARK_LOCAL_ROOTS`` is unset (`roots_set` false) a worker reads under
    its working directory, and this process's stands for it."""
    real = os.path.realpath(folder)
    for root in map(os.path.realpath, roots):
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return
    if roots_set:
        where = f"EARMARK_LOCAL_ROOTS ({':'.join(roots)})"
    else:
        where = f"EARMARK_LOCAL_ROOTS (unset: a worker's working directory, here {roots[0]})"
    raise ConfigError(
        f"--dir {folder}: outside {where}, so no worker would read its files;"
        " add the folder to EARMARK_LOCAL_ROOTS (the workers' too)"
    )


def from_s3_prefix(client: Any, url: str) -> Iterator[SourceItem]:
    """Audio objects under an ``s3://bucket/prefix``, listed page by page."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not url.startswith("s3://") or not bucket:
        raise InvalidReference(f"{url} is not an s3://bucket/prefix")
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            key = entry["Key"]
            if Path(key).suffix.lower() in AUDIO_EXTENSIONS:
                yield SourceItem(f"s3://{bucket}/{key}")
