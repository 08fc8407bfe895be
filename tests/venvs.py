"""Fresh virtualenvs with earmark installed from the checkout, as a user's `pip install` makes.

A test run there (with a working folder outside the checkout) imports only what was installed:
a module left out of the wheel, or an import that works only from the source tree, fails.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fresh_venv(folder: Path, extras: str = "") -> Path:
    """A new virtualenv in `folder` with ``earmark{extras}`` pip-installed from the checkout
    (``extras`` like ``"[worker]"``); its ``bin/`` folder."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=120)
    install = subprocess.run(
        [str(folder / "bin" / "pip"), "install", "-q", f"{ROOT}{extras}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return folder / "bin"
