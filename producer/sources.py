"""Sources of references for bulk runs: arguments, manifests, folders and S3 prefixes.

Every source streams: a million-line manifest or prefix is never held in memory at once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from producer.errors import InvalidReference
from producer.messages import JobSpec, describe_invalid

#: Extensions a folder walk or prefix listing picks up (lower case).
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".m4a", ".aac", ".webm"}
)


@dataclass(frozen=True)
class SourceItem:
    """One reference to queue, with the caller's fields to carry into its record."""

    ref: str
    meta: dict[str, Any] | None = None


def from_refs(refs: Iterable[str]) -> Iterator[SourceItem]:
    """References given one by one."""
    for ref in refs:
        yield SourceItem(ref)


def from_manifest(path: Path) -> Iterator[SourceItem]:
    """A manifest: one reference a line, or JSON lines with a ``ref`` field (the rest is meta)."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            yield _manifest_item(text, path, number)


def check_manifest(path: Path) -> int:
    """How many references a manifest holds, once every line is known good; else
    :class:`InvalidReference` naming the first bad line (nothing has been queued yet)."""
    count = 0
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            item = _manifest_item(text, path, number)
            try:
                JobSpec(job_id="manifest:0", ref=item.ref, meta=item.meta)
            except ValidationError as e:
                raise InvalidReference(f"{path}:{number}: {describe_invalid(e)}") from e
            count += 1
    return count


def _manifest_item(text: str, path: Path, number: int) -> SourceItem:
    if not text.startswith("{"):
        return SourceItem(text)
    try:
        fields = json.loads(text)
    except ValueError as e:
        raise InvalidReference(f"{path}:{number}: not JSON: {e}") from e
    ref = fields.pop("ref", None) if isinstance(fields, dict) else None
    if not isinstance(ref, str):
        raise InvalidReference(f"{path}:{number}: a JSON line needs a string 'ref' field")
    return SourceItem(ref, fields or None)


def from_folder(folder: Path) -> Iterator[SourceItem]:
    """Audio files under a folder, walked in sorted order so reruns queue the same ids."""
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
