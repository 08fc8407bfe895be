"""The fenced code blocks of the README and docs/: what tests/test_docs.py runs, what the demo
prints as the next steps.

A block is a fence at the start of a line with a language (```` ```bash ````). A block that a
reader would paste but that cannot run where the tests run says so in an HTML comment on the
line right before its fence: ``<!-- not-run: needs the Hugging Face Hub -->``. Each block knows
the last heading above it, so a page's section (the README's quick start) can be picked out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The README's section whose blocks, in order, take a user from a checkout to a report.
QUICK_START = "Quick start on your own files"
#: Languages whose blocks are run: by bash, and by Python.
SHELL = frozenset({"bash", "sh", "shell", "console"})
PYTHON = frozenset({"python", "py"})
#: Languages whose blocks are output or pictures, never run (JSON ones must still parse).
OUTPUT = frozenset({"text", "json", "jsonl"})

_FENCE = re.compile(r"^```(\S*)\s*$")
_NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(.+?)\s*-->$")


@dataclass(frozen=True)
class Block:
    """One fenced block of a Markdown file."""

    path: Path
    #: 1-based line of the opening fence.
    line: int
    language: str
    text: str
    #: The last heading above the block, without its #s.
    heading: str
    #: Why it is not run, from a ``<!-- not-run: … -->`` line right before the fence.
    not_run: str | None

    @property
    def name(self) -> str:
        """``docs/cli.md:122``, relative to the repository."""
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def markdown_files() -> list[Path]:
    """The README and every page of docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(path: Path) -> list[Block]:
    """Every fenced block of `path`, in order."""
    found: list[Block] = []
    lines = path.read_text().splitlines()
    heading, start, language, before = "", 0, "", ""
    for number, line in enumerate(lines, 1):
        fence = _FENCE.match(line)
        if start == 0 and fence is not None:
            start, language = number, fence.group(1)
            before = lines[number - 2] if number > 1 else ""
        elif start and line.rstrip() == "```":
            text = "\n".join(lines[start : number - 1]) + "\n"
            reason = _NOT_RUN.match(before.strip())
            not_run = reason.group(1) if reason else None
            found.append(Block(path, start, language, text, heading, not_run))
            start = 0
        elif start == 0 and line.startswith("#"):
            heading = line.lstrip("#").strip()
    return found


def quick_start(readme: Path = ROOT / "README.md") -> list[Block]:
    """The README's quick-start blocks, in the order a user types them."""
    return [b for b in blocks(readme) if b.heading == QUICK_START and b.language in SHELL]
