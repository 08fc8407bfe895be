"""prometheus_client's multiprocess values, kept in a folder the worker names explicitly.

prometheus_client turns on its multiprocess mode, and finds the folder its per-process files go
to, by reading ``PROMETHEUS_MULTIPROC_DIR`` in every process that writes a value. earmark reads
the environment in one place only (producer/settings.py, enforced by tests/test_layout.py), so
the worker hands the folder over instead: :func:`use_folder` installs a value class that writes
the very files ``MultiProcessCollector(path=…)`` reads (same names, same mmap layout), before any
earmark metric is made. The parent makes the folder before the pool forks; every pool process
writes files named by its own pid, as prometheus_client's own value class does.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, ClassVar

from prometheus_client import values
from prometheus_client.mmap_dict import MmapedDict, mmap_key


def use_folder(folder: Path) -> None:
    """Make every prometheus_client metric made from now on write its values under `folder`."""
    values.ValueClass = folder_value_class(folder)


def folder_value_class(folder: Path) -> type[FolderValue]:
    """A prometheus_client value class whose files live in `folder`, one set per process."""
    # MmapedDict is not thread safe, and I/O threads observe too: one lock per folder.
    shared = {"folder": folder, "files": {}, "lock": threading.Lock()}
    return type("FolderValue", (FolderValue,), shared)


class FolderValue:
    """One sample's float, mirrored into this process's mmap file in ``folder``."""

    folder: ClassVar[Path]
    #: Open files by (prefix, pid): a child inherits its parent's, and opens its own.
    files: ClassVar[dict[tuple[str, int], MmapedDict]]
    lock: ClassVar[threading.Lock]

    def __init__(
        self,
        typ: str,
        metric_name: str,
        name: str,
        labelnames: list[str],
        labelvalues: list[str],
        help_text: str,
        multiprocess_mode: str = "",
        **_: Any,
    ) -> None:
        # Gauges are aggregated per mode (livesum, max, …): the mode is in the file's name.
        self._prefix = f"{typ}_{multiprocess_mode}" if typ == "gauge" else typ
        self._key = mmap_key(metric_name, name, labelnames, labelvalues, help_text)
        self._pid = -1
        self._value = 0.0
        with self.lock:
            self._file()

    def inc(self, amount: float) -> None:
        """Add `amount`."""
        with self.lock:
            file = self._file()
            self._value += amount
            file.write_value(self._key, self._value, 0.0)

    def set(self, value: float, timestamp: float | None = None) -> None:
        """Set to `value`."""
        with self.lock:
            self._file().write_value(self._key, value, timestamp or 0.0)
            self._value = value

    def set_exemplar(self, exemplar: Any) -> None:
        """Exemplars are not kept in multiprocess mode (nor by prometheus_client's own)."""

    def get(self) -> float:
        """The current value in this process."""
        with self.lock:
            self._file()
            return self._value

    def get_exemplar(self) -> None:
        """No exemplar is kept."""
        return None

    def _file(self) -> MmapedDict:
        # A value made before a fork starts afresh in the child, in the child's own file.
        pid = os.getpid()
        key = (self._prefix, pid)
        if key not in self.files:
            self.files[key] = MmapedDict(str(self.folder / f"{self._prefix}_{pid}.db"))
        if pid != self._pid:
            self._pid = pid
            self._value = self.files[key].read_value(self._key)[0]
        return self.files[key]
