"""External programs the tests call: skipped where missing locally, a failure on CI.

`.ci/run` installs every one of them; a developer's machine may lack some. With ``CI`` set (as
CI runs `.ci/run`) a missing tool fails the test, so CI can never pass by skipping it.
"""

from __future__ import annotations

import os
import shutil

import pytest


def on_ci() -> bool:
    """Whether this run is CI's (``CI`` set to anything but empty, ``0`` or ``false``)."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def require_tool(*names: str, package: str) -> str:
    """The path of the first of `names` on PATH; else skip the test (fail it on CI), naming the
    Debian `package` that brings it."""
    for name in names:
        found = shutil.which(name)
        if found is not None:
            return found
    message = f"{' or '.join(names)} is not on PATH: apt-get install {package} (.ci/run does)"
    if on_ci():
        pytest.fail(message)
    pytest.skip(message)
