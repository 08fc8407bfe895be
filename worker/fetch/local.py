"""Local files: read a path only when it resolves under one of the allowed roots.

The check and the open see the same file: the path is resolved (symlinks, ``..``, the working
directory) to choose its root, then opened one component at a time from the root's directory
descriptor, never following a symlink. A directory swapped for a symlink after the check fails
(``forbidden``) instead of being followed out of the root, which an open of the resolved path
with ``O_NOFOLLOW`` did not prevent: that guards only the last component. POSIX only
(``dir_fd``), as the workers are.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence

from producer.errors import (
    EarmarkError,
    FetchError,
    Forbidden,
    InvalidReference,
    NotFound,
)
from worker.fetch.limits import MAX_BYTES_SETTING, outside_roots, too_large

#: Flags for the root and each directory below it: a symlink or a non-directory fails.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: Flags for the file: no symlink; a FIFO opens at once (and is refused) instead of hanging.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
#: Bytes asked of the file per read.
_CHUNK_BYTES = 1 << 20
#: Errors of an open that say the entry is no file to read: ENXIO for a Unix socket (or a
#: device with nothing behind it), ENODEV, EOPNOTSUPP where a system says so for sockets.
_NOT_A_FILE = frozenset({errno.ENXIO, errno.ENODEV, errno.EOPNOTSUPP, errno.ENOTSUP})


def read_local(path: str, roots: Sequence[str], max_bytes: int) -> bytes:
    """Read a file that resolves under one of `roots` (already real paths)."""
    return b"".join(stream_local(path, roots, max_bytes))


def stream_local(
    path: str, roots: Sequence[str], max_bytes: int, setting: str = MAX_BYTES_SETTING
) -> Iterator[bytes]:
    """A file that resolves under one of `roots`, read a chunk at a time, refused past
    `max_bytes` (the cap `setting` sets); the file is closed when the stream is."""
    fd = _open_within(path, roots)
    try:
        _check_regular(fd, path, max_bytes, setting)
        read = 0
        while chunk := _read(fd, path):
            read += len(chunk)
            if read > max_bytes:  # the file may have grown since fstat
                raise too_large(path, max_bytes, setting=setting)
            yield chunk
    finally:
        os.close(fd)


def _open_within(path: str, roots: Sequence[str]) -> int:
    """A descriptor for `path`, opened from its root down without following any symlink."""
    if "\x00" in path:  # parse_ref refuses these; a LocalRef built by hand may not have been
        raise InvalidReference("path contains a NUL character")
    try:
        real = os.path.realpath(path)  # symlinks and ".." resolved before the check, not after
    except OSError as e:  # the working directory is gone, a link changed while being read
        raise _open_error(path, e) from e
    root = next((root for root in roots if _within(real, root)), None)
    if root is None:
        raise outside_roots(path, roots)
    names = [name for name in real[len(root) :].split(os.sep) if name]
    if not names:
        raise InvalidReference(f"{path}: is a directory")
    directory = _open_step(path, root, _DIR_FLAGS, None)
    try:
        for name in names[:-1]:
            below = _open_step(path, name, _DIR_FLAGS, directory)
            os.close(directory)
            directory = below
        return _open_step(path, names[-1], _FILE_FLAGS, directory)
    finally:
        os.close(directory)


def _open_step(path: str, name: str, flags: int, directory: int | None) -> int:
    """Open `name` in `directory` (a descriptor; None for an absolute `name`)."""
    try:
        return os.open(name, flags, dir_fd=directory)
    except OSError as e:
        if _is_symlink(name, directory):  # swapped in since the path was resolved
            raise Forbidden(f"{path}: a component turned into a symlink; not followed") from e
        raise _open_error(path, e) from e


def _is_symlink(name: str, directory: int | None) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _check_regular(fd: int, path: str, max_bytes: int, setting: str) -> None:
    try:
        info = os.fstat(fd)
    except OSError as e:
        raise FetchError(f"{path}: read failed ({e.strerror})") from e
    if stat.S_ISDIR(info.st_mode):
        raise InvalidReference(f"{path}: is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise InvalidReference(f"{path}: not a regular file")
    if info.st_size > max_bytes:
        raise too_large(path, max_bytes, info.st_size, setting)


def _read(fd: int, path: str) -> bytes:
    try:
        return os.read(fd, _CHUNK_BYTES)
    except OSError as e:
        raise FetchError(f"{path}: read failed ({e.strerror})") from e


def _within(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _open_error(path: str, e: OSError) -> EarmarkError:
    if e.errno in (errno.ENOENT, errno.ENOTDIR):
        return NotFound(f"{path}: no such file")
    if e.errno in (errno.EACCES, errno.EPERM, errno.ELOOP):
        return Forbidden(f"{path}: access refused ({e.strerror})")
    if e.errno in (errno.EISDIR, errno.ENAMETOOLONG):
        return InvalidReference(f"{path}: {e.strerror}")
    if e.errno in _NOT_A_FILE:  # permanent: retrying a socket gives ENXIO again
        return InvalidReference(f"{path}: not a regular file ({e.strerror})")
    return FetchError(f"{path}: {e.strerror}")
