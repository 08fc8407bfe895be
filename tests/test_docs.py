"""Documentation that cannot rot: the README and docs/ as a strict MkDocs site, every block a
reader would paste run, the settings table against `Settings`, the flags against `--help`.

Shell blocks run in bash (``-e``, ``pipefail``) and Python blocks in this interpreter, each in a
fresh folder holding copies of `samples/` and `models/` (what the blocks name, as from a
checkout), with this checkout's `earmark` first on PATH and a private Redis as the broker and
results store. The README's quick start is run from a fresh clone by tests/test_readme.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from producer.records import ResultRecord
from producer.settings import Settings
from scripts.doc_blocks import (
    OUTPUT,
    PYTHON,
    QUICK_START,
    ROOT,
    SHELL,
    Block,
    blocks,
    markdown_files,
    quick_start,
)
from tests.conftest import Earmark
from tests.tools import on_ci

ALL = [block for path in markdown_files() for block in blocks(path)]
RUN = [b for b in ALL if b.not_run is None and b.language in SHELL | PYTHON]
#: Run by tests/test_readme.py, in order, from a fresh clone.
QUICK = [b for b in RUN if b.path.name == "README.md" and b.heading == QUICK_START]
#: Seconds one block may take (the int8 calibration is the longest, about 10 s).
BLOCK_TIMEOUT_S = 180


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """`mkdocs build --strict`: no broken link or anchor, no page outside the nav, no warning."""
    if shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None:
        message = 'mkdocs is not installed: pip install -e ".[dev]"'
        pytest.fail(message) if on_ci() else pytest.skip(message)
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    assert (tmp_path / "site" / "index.html").is_file()


def test_every_block_is_run_shown_or_says_why_not() -> None:
    """Every fence names its language; a block not run is output (text, JSON) or carries a
    reason; the quick start is the README's runnable blocks under its heading, and nothing else
    is skipped."""
    known = SHELL | PYTHON | OUTPUT
    unknown = [f"{b.name} ({b.language or 'no language'})" for b in ALL if b.language not in known]
    assert not unknown, f"fences need one of {sorted(known)}: {unknown}"
    vague = [b.name for b in ALL if b.not_run is not None and len(b.not_run) < 15]
    assert not vague, f"say why a block cannot run: {vague}"
    output_marked = [b.name for b in ALL if b.not_run is not None and b.language in OUTPUT]
    assert not output_marked, f"output blocks are never run; drop the marker: {output_marked}"
    assert len(QUICK) >= 4, "the README's quick start lost its blocks"
    assert quick_start() == QUICK, "quick-start blocks are shell, and every one is run"


@pytest.mark.parametrize("block", [b for b in ALL if b.language == "json"], ids=lambda b: b.name)
def test_json_blocks_parse_and_records_validate(block: Block) -> None:
    value = json.loads(block.text)
    if isinstance(value, dict) and "status" in value:
        ResultRecord.model_validate(value)


@pytest.fixture
def scratch(tmp_path: Path, redis_url: str) -> tuple[Path, dict[str, str]]:
    """A folder with copies of samples/ and models/, and the environment a block runs in."""
    for name in ("samples", "models"):
        shutil.copytree(ROOT / name, tmp_path / name)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("EARMARK_", "AWS_"))}
    results = redis_url.rsplit("/", 1)[0] + "/1"
    env = {
        **clean,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{clean.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "EARMARK_BROKER_URL": redis_url,
        "EARMARK_RESULTS_URL": results,
        "EARMARK_METRICS_PORT": "0",
    }
    return tmp_path, env


def _param(block: Block) -> object:
    """A block as a test case; calibrating an int8 graph is slow, as in tests/test_optimize.py."""
    marks = [pytest.mark.slow] if "earmark optimize" in block.text else []
    return pytest.param(block, marks=marks, id=block.name)


@pytest.mark.parametrize("block", [_param(b) for b in RUN if b not in QUICK])
def test_block_runs(block: Block, scratch: tuple[Path, dict[str, str]]) -> None:
    """Given a copy of the checkout's samples and models, the block runs and exits 0."""
    folder, env = scratch
    if block.language in SHELL:
        command = ["bash", "-e", "-o", "pipefail", "-c", block.text]
    else:
        command = [sys.executable, "-c", block.text]
    done = subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S
    )
    assert done.returncode == 0, f"{block.name}:\n{block.text}\n{done.stdout}\n{done.stderr}"


def _settings_table() -> dict[str, str]:
    """docs/settings.md's table: variable → default, as written (backticks stripped)."""
    rows = {}
    for line in (ROOT / "docs" / "settings.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"`EARMARK_[A-Z0-9_]+`", cells[0]):
            rows[cells[0].strip("`")] = cells[1].strip("`")
    return rows


def _variable(name: str) -> str:
    alias = Settings.model_fields[name].validation_alias
    return alias if isinstance(alias, str) else f"EARMARK_{name.upper()}"


def _shown(default: object) -> str:
    """A default as the table writes it: booleans 0/1, whole floats without their point."""
    if isinstance(default, bool):
        return str(int(default))
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def test_the_settings_table_is_settings() -> None:
    """Every EARMARK_ field is a row with its default, no row is stale; the fields read under
    other names (glibc's) are on the page."""
    table = _settings_table()
    fields = {_variable(name): name for name in Settings.model_fields}
    earmark = {v for v in fields if v.startswith("EARMARK_")}
    assert sorted(earmark - set(table)) == [], "settings missing from docs/settings.md"
    assert sorted(set(table) - earmark) == [], "docs/settings.md rows that are no setting"
    page = (ROOT / "docs" / "settings.md").read_text()
    assert [v for v in fields if v not in earmark and v not in page] == []
    wrong = []
    for variable, written in table.items():
        field = Settings.model_fields[fields[variable]]
        if field.default_factory is None and _shown(field.default) != written:
            wrong.append(f"{variable}: docs say {written!r}, Settings {field.default!r}")
    assert wrong == []


_FLAG = re.compile(r"--[a-z][a-z0-9-]*")


def _synopses() -> dict[str, set[str]]:
    """`earmark CMD …` lines of docs/cli.md's text blocks and the README's command table:
    command (``dlq list``) → flags written."""
    lines = [
        line
        for b in ALL
        if b.path.name == "cli.md" and b.language == "text"
        for line in re.sub(r"\n\s+(?=\[|--)", " ", b.text).splitlines()
    ]
    readme = (ROOT / "README.md").read_text()
    lines += re.findall(r"^\| `(earmark [^`]+)` \|", readme, flags=re.MULTILINE)
    found: dict[str, set[str]] = {}
    for line in lines:
        match = re.match(r"(?:\S+=\S+ )*earmark ((?:[a-z][a-z-]*(?: |$))+)", line.strip())
        if match is not None:
            command = match.group(1).strip()
            found.setdefault(command, set()).update(_FLAG.findall(line))
    return found


def _help_options(earmark: Earmark, command: str) -> list[set[str]]:
    """Each option of `earmark COMMAND --help` (run in this process): the spellings it accepts
    (``--wait``, ``--no-wait``)."""
    done = earmark(*command.split(), "--help", COLUMNS="300", NO_COLOR="1", TERM="dumb")
    assert done.returncode == 0, done.stderr
    options = []
    for line in done.stdout.splitlines():
        spellings = set(_FLAG.findall(line.split("<")[0]))
        if spellings and "--help" not in spellings:
            options.append(spellings)
    return options


@pytest.mark.parametrize("command", sorted(_synopses()))
def test_documented_flags_are_the_commands_flags(earmark: Earmark, command: str) -> None:
    """Every flag the docs write for a command is in its --help; every option of its --help is
    in docs/cli.md (in one of its spellings)."""
    written = _synopses()[command]
    options = _help_options(earmark, command)
    known = set().union(*options)
    assert sorted(written - known) == [], f"earmark {command}: no such flags"
    cli = [b for b in ALL if b.path.name == "cli.md" and b.language == "text"]
    page = " ".join(_FLAG.findall(" ".join(b.text for b in cli if f"earmark {command}" in b.text)))
    missing = [sorted(o) for o in options if not o & set(page.split())]
    assert missing == [], f"docs/cli.md leaves out options of earmark {command}"
