"""Local files: read a path only when it resolves under one of the allowed roots."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence

from producer.errors import FetchError, Forbidden, InvalidReference, NotFound, TooLarge


def read_local(path: str, roots: Sequence[str], max_bytes: int) -> bytes:
    """Read a file that resolves under one of `roots` (already real paths)."""
    real = os.path.realpath(path)  # symlinks and ".." resolved before the check, not after
    if not any(_within(real, root) for root in roots):
        raise Forbidden(f"{path}: outside the allowed local roots")
    # O_NOFOLLOW: a symlink swapped in after realpath fails instead of being followed;
    # O_NONBLOCK: opening a FIFO returns at once (and is refused below) instead of hanging.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(real, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise _open_error(path, e) from e
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InvalidReference(f"{path}: is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise InvalidReference(f"{path}: not a regular file")
        if info.st_size > max_bytes:
            raise TooLarge(f"{path}: {info.st_size} bytes, over the {max_bytes}-byte cap")
        data = _read_at_most(fd, max_bytes + 1)  # the file may have grown since fstat
    except OSError as e:
        raise FetchError(f"{path}: read failed ({e.strerror})") from e
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise TooLarge(f"{path}: over the {max_bytes}-byte cap")
    return data


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks, left = [], limit
    while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _within(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _open_error(path: str, e: OSError) -> Exception:
    if e.errno in (errno.ENOENT, errno.ENOTDIR):
        return NotFound(f"{path}: no such file")
    if e.errno in (errno.EACCES, errno.EPERM, errno.ELOOP):
        return Forbidden(f"{path}: access refused ({e.strerror})")
    if e.errno in (errno.EISDIR, errno.ENAMETOOLONG):
        return InvalidReference(f"{path}: {e.strerror}")
    return FetchError(f"{path}: {e.strerror}")
