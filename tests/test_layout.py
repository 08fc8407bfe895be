"""The layering the folders promise (ARCHITECTURE.md), checked on the source itself.

- `producer` never imports `worker`; the pipeline core (worker/ outside worker/service/ and the
  command line) never imports the service layer;
- `producer` holds what both sides share and the client: no module of it is imported by worker/
  alone, and its command line lives in producer/cli/ (the only users of typer and rich there);
- only `producer/settings.py` reads the environment;
- audio is read one way: no second decoder (soundfile, soxr, librosa) beside worker/audio;
- one of each: Redis connections, S3 clients, task publishing and redaction each have one home.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("producer", "worker")


def modules(*folders: str) -> list[Path]:
    """Every Python file under the folders, sorted."""
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def imported(path: Path) -> Iterator[str]:
    """The module names a file imports, at any depth (late imports inside functions too)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def attribute_chains(path: Path, *, called: bool = False) -> Iterator[str]:
    """Dotted names used in a file (``os.environ``, ``redis.Redis.from_url``); with `called`,
    only those called (``boto3.client(…)``, not ``redis.Redis`` in an annotation)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        target = node.func if called and isinstance(node, ast.Call) else node
        if (called and not isinstance(node, ast.Call)) or not isinstance(target, ast.Attribute):
            continue
        parts, value = [target.attr], target.value
        while isinstance(value, ast.Attribute):
            parts.append(value.attr)
            value = value.value
        if isinstance(value, ast.Name):
            yield ".".join([value.id, *reversed(parts)])


def names_from(path: Path, module: str) -> set[str]:
    """The names a file imports from `module` (``from os import environ``)."""
    return {
        alias.name
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.ImportFrom) and node.module == module
        for alias in node.names
    }


def relative(path: Path) -> str:
    """`path` as the repository names it."""
    return path.relative_to(ROOT).as_posix()


def is_service_side(path: Path) -> bool:
    """Whether a worker module belongs to the Celery/Redis edge (or the command line)."""
    name = relative(path)
    return name.startswith("worker/service/") or name == "worker/cli.py"


@pytest.mark.parametrize("path", modules("producer"), ids=relative)
def test_producer_never_imports_worker(path: Path) -> None:
    assert not [name for name in imported(path) if name.split(".")[0] == "worker"]


@pytest.mark.parametrize(
    "path", [p for p in modules("worker") if not is_service_side(p)], ids=relative
)
def test_pipeline_core_never_imports_the_service_layer(path: Path) -> None:
    assert not [name for name in imported(path) if name.startswith("worker.service")]


def module_name(path: Path) -> str:
    """The dotted name of a module (``producer/state/__init__.py`` is ``producer.state``)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def imported_modules(path: Path) -> frozenset[str]:
    """What a file imports, with the submodules ``from package import name`` may name."""
    names = set(imported(path))
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return frozenset(names)


def in_producer_cli(path: Path) -> bool:
    """Whether a file belongs to the producer's command line."""
    return relative(path).startswith("producer/cli/")


@pytest.mark.parametrize(
    "path", [p for p in modules("producer") if not in_producer_cli(p)], ids=relative
)
def test_no_worker_only_code_in_producer(path: Path) -> None:
    """A producer module that only worker/ imports is the worker's (as retry.py was)."""
    name = module_name(path)
    sides = {
        relative(user).split("/")[0]
        for user in modules(*PACKAGES)
        if user != path and name in imported_modules(user)
    }
    assert sides != {"worker"}, f"only worker/ imports {name}: move it to worker/"


#: The command line's libraries: terminal output and flags.
CLI_LIBRARIES = {"typer", "click", "rich"}


@pytest.mark.parametrize(
    "path", [p for p in modules("producer") if not in_producer_cli(p)], ids=relative
)
def test_the_producers_command_line_lives_in_producer_cli(path: Path) -> None:
    """Outside producer/cli/, nothing in producer/ builds commands, draws on a terminal or
    imports the command line: a service that queues references needs none of it."""
    names = set(imported(path))
    assert not {name.split(".")[0] for name in names} & CLI_LIBRARIES, "belongs in producer/cli/"
    assert not [name for name in names if name.split(".")[:2] == ["producer", "cli"]]


@pytest.mark.parametrize("path", modules(*PACKAGES), ids=relative)
def test_only_settings_reads_the_environment(path: Path) -> None:
    if relative(path) == "producer/settings.py":
        return
    chains = set(attribute_chains(path))
    assert not chains & {"os.environ", "os.getenv", "os.putenv"}
    assert not names_from(path, "os") & {"environ", "getenv", "putenv"}


#: Audio libraries whose samples are not the reference pipeline's: not worker dependencies.
OTHER_DECODERS = {"soundfile", "soxr", "librosa"}


@pytest.mark.parametrize("path", modules(*PACKAGES), ids=relative)
def test_one_decoder(path: Path) -> None:
    """Neither side reads audio but through worker/audio (ffmpeg's decode, as the pipeline's):
    a second decoder, like the removed libsndfile + soxr path, moves scores."""
    assert not {name.split(".")[0] for name in imported(path)} & OTHER_DECODERS


#: What may be done in one module only: (what, dotted name used, the one module allowed).
ONE_OF_EACH = [
    ("connect to Redis", "redis.Redis.from_url", "producer/state/redis.py"),
    ("connect to Redis", "redis.Redis", "producer/state/redis.py"),
    ("make an S3 client", "boto3.client", "producer/stores/aws.py"),
    ("build a task message", "amqp.as_task_v2", "producer/broker.py"),
    ("send a task", "app.send_task", "producer/broker.py"),
    ("send a task", "celery.send_task", "producer/broker.py"),
]


@pytest.mark.parametrize(("what", "chain", "home"), ONE_OF_EACH, ids=lambda v: str(v))
def test_one_home_for_each_shared_piece(what: str, chain: str, home: str) -> None:
    users = [
        relative(p) for p in modules(*PACKAGES) if chain in set(attribute_chains(p, called=True))
    ]
    assert set(users) <= {home}, f"only {home} may {what}"


def test_one_redactor() -> None:
    defined = [
        relative(path)
        for path in modules(*PACKAGES)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name.lstrip("_").startswith("redact")
    ]
    assert set(defined) == {"producer/redact.py"}


def test_every_redis_key_is_named_in_the_keys_module() -> None:
    """Key names (strings starting ``earmark:``) appear in producer/state/keys.py only."""
    spelled = {
        relative(path)
        for path in modules(*PACKAGES)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant | ast.JoinedStr) and _starts_with_key(node)
    }
    assert spelled <= {"producer/state/keys.py"}


def _starts_with_key(node: ast.Constant | ast.JoinedStr) -> bool:
    first = node.values[0] if isinstance(node, ast.JoinedStr) and node.values else node
    value = first.value if isinstance(first, ast.Constant) else None
    # "earmark:batch:…" is a key; "earmark: finished …" is a log line.
    return isinstance(value, str) and re.match(r"earmark:[a-z]", value) is not None


ARCHITECTURE = ROOT / "ARCHITECTURE.md"
#: A module name as ARCHITECTURE.md's map spells it: a file's stem.
_MODULE_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def mapped_modules() -> dict[str, set[str]]:
    """The modules ARCHITECTURE.md's map (its first fenced block) names, by folder.

    A line that starts in the first column opens a folder (``worker/service/  what it is``). An
    entry under it is two spaces in: one or more module names, one space apart, then two spaces
    or more and what they hold. A line indented further continues a description.
    """
    block = ARCHITECTURE.read_text().split("```", 2)[1]
    mapped: dict[str, set[str]] = {}
    folder = ""
    for line in block.splitlines()[1:]:
        if not line.strip() or line.startswith("   "):
            continue
        if not line.startswith(" "):
            folder = line.split()[0]
            mapped[folder] = set()
            continue
        names = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0].split()
        unread = [name for name in names if not _MODULE_NAME.fullmatch(name)]
        assert folder and not unread, f"ARCHITECTURE.md: not names, two spaces, text: {line!r}"
        mapped[folder] |= set(names)
    return mapped


def source_folders() -> list[str]:
    """Every folder of producer/, worker/ and bench/ that holds a module, as ``worker/fetch/``."""
    paths = modules(*PACKAGES, "bench")
    return sorted({f"{relative(p.parent)}/" for p in paths if p.stem != "__init__"})


@pytest.mark.parametrize("folder", source_folders())
def test_architecture_maps_every_module_and_no_other(folder: str) -> None:
    mapped = mapped_modules().get(folder, set())
    actual = {path.stem for path in (ROOT / folder).glob("*.py") if path.stem != "__init__"}
    assert not actual - mapped, f"ARCHITECTURE.md leaves out {folder}: {sorted(actual - mapped)}"
    assert not mapped - actual, f"ARCHITECTURE.md names no such {folder}: {sorted(mapped - actual)}"


def test_architecture_maps_only_folders_that_exist() -> None:
    assert not set(mapped_modules()) - set(source_folders())


#: Longest function or method, in lines from its ``def`` to its last line, docstring included
#: (decorators not): STYLE.md's "functions under ~40 lines".
MAX_FUNCTION_LINES = 40


def test_functions_stay_short() -> None:
    long = [
        f"{relative(path)}:{node.lineno} {node.name}() {_lines(node)} lines"
        for path in modules(*PACKAGES, "scripts", "bench")
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and _lines(node) > MAX_FUNCTION_LINES
    ]
    assert not long, f"over {MAX_FUNCTION_LINES} lines: {long}"


def _lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    return (node.end_lineno or node.lineno) - node.lineno + 1
