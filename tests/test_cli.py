"""The ``earmark`` root command (producer/cli/root.py): every command exits with the README's
codes and says why in one line on stderr; `--help` lists every command and flag.

Run in this process (the `earmark` fixture) but for what only a child process shows, marked
``process``: the exit status a shell sees, a traceback on stderr, the modules a command loads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

import pytest

from producer.errors import EarmarkError
from tests.conftest import Earmark


def _earmark(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m producer.cli ARGS` in a child process, without this process's EARMARK_
    variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EARMARK_")}
    command = [sys.executable, "-m", "producer.cli", *args]
    return subprocess.run(
        command, env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


@pytest.mark.process
@pytest.mark.parametrize(
    ("args", "code"),
    [((), 2), (("nosuchcommand",), 2), (("status", "nightly"), 3)],
    ids=["bare", "bad_command", "unreachable"],
)
def test_the_exit_status_and_one_line_reach_the_shell(args: tuple[str, ...], code: int) -> None:
    """The exit-code mapping end to end, as a shell sees it from `python -m producer.cli`:
    catches a status lost between `main` and the interpreter (a return instead of sys.exit, an
    exception escaping it), and more than one line on stderr. The in-process tests check each
    code's every cause."""
    down = "redis://127.0.0.1:1/0"
    done = _earmark(*args, EARMARK_BROKER_URL=down, EARMARK_RESULTS_URL=down)
    assert done.returncode == code, done.stderr
    if args:
        assert done.stdout == ""
        (line,) = done.stderr.splitlines()
        assert line.startswith("earmark: ") and "Traceback" not in line
    else:
        assert "Usage" in done.stdout + done.stderr and "enqueue" in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("classify", "--bogus", "a.wav"), "No such option: --bogus"),
        (("nosuchcommand",), "No such command 'nosuchcommand'"),
        (("results",), "Missing argument"),
        (("enqueue", "--top-k", "many", "a.wav"), "Invalid value for '--top-k'"),
        (("status", "b1", "--timeout", "soon"), "Invalid value for '--timeout'"),
        (("dlq", "list", "--extra"), "No such option: --extra"),
    ],
)
def test_a_bad_flag_or_argument_exits_2_with_one_line(
    earmark: Earmark, args: tuple[str, ...], says: str
) -> None:
    """Errors the command line's parser finds read like every other error: one line, exit 2,
    naming the command's help (before, typer's boxed message spread over five lines)."""
    done = earmark(*args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("earmark: ") and says in line and "--help" in line


def test_a_bare_command_prints_its_help_and_exits_2(earmark: Earmark) -> None:
    """Catches a bare `earmark` exiting 0, or without the commands' list."""
    done = earmark()
    assert done.returncode == 2
    assert "Usage" in done.stdout + done.stderr and "enqueue" in done.stdout + done.stderr


def test_debug_raises_what_a_failure_would_say_in_one_line(earmark: Earmark) -> None:
    """With --debug, `main` lets the refusal through instead of its one line (catches --debug
    ignored); without it, the same refusal is one line, exit 2."""
    with pytest.raises(EarmarkError, match="invalid batch id 'bad id!'"):
        earmark("--debug", "status", "bad id!")
    done = earmark("status", "bad id!")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1


@pytest.mark.process
def test_debug_shows_the_traceback() -> None:
    """Catches --debug not reaching the interpreter's traceback on stderr in a real process."""
    done = _earmark("--debug", "status", "bad id!")
    assert done.returncode != 0 and "Traceback" in done.stderr


@pytest.mark.process
def test_a_producer_command_loads_no_worker_code() -> None:
    """`earmark status` runs without importing the worker side (it costs a producer command
    ~0.2 s a call): only a fresh interpreter's `sys.modules` shows it."""
    probe = (
        "import sys; from producer.cli import main\n"
        "sys.argv = ['earmark', '--debug', 'status', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('worker.cli' in sys.modules, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stderr.strip().splitlines()[-1] == "False", done.stderr


def test_help_lists_every_command(earmark: Earmark) -> None:
    """`earmark --help` lists the worker's commands (registered through the entry points) and
    the producer's."""
    listed = earmark("--help").stdout
    for command in ("classify", "worker", "fetch-model", "optimize", "enqueue", "report"):
        assert command in listed


def _command_function(name: str) -> Any:
    """The function `earmark NAME` runs, as main() registers it."""
    from producer.cli import commands, reads, report
    from worker import cli

    return {
        "enqueue": commands.enqueue,
        "results": reads.results,
        "status": reads.status,
        "report": report.report,
        "classify": cli.classify,
        "worker": cli.worker,
        "fetch-model": cli.fetch_model,
        "optimize": cli.optimize,
        "doctor": cli.doctor,
    }[name]


def _choices(annotation: Any) -> tuple[str, ...]:
    """The choices of a parameter's annotation: a Literal's values, inside Annotated and None."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    inner = [_choices(arg) for arg in get_args(annotation) if arg is not type(None)]
    return inner[0] if len(inner) == 1 else ()


HELPED = [
    "enqueue", "results", "status", "report", "classify", "worker", "fetch-model", "optimize",
    "doctor",
]  # fmt: skip


@pytest.mark.parametrize("name", HELPED)
def test_help_lists_every_flag_and_the_choices_of_the_single_source(
    earmark: Earmark, name: str
) -> None:
    """Before, `fetch-model --help` said "fp32, q8 or fp16" (int8 missing) and each command
    spelled its choices out by hand; now every choice list is the Literal's, as Typer lists it."""
    import typer

    from producer.settings import Batching, Dtype
    from producer.windowing import Aggregate
    from worker.optimize import QuantFormat
    from worker.postprocess import FunctionChoice

    single_source = {
        "dtype": Dtype,
        "batching": Batching,
        "function": FunctionChoice,
        "aggregate": Aggregate,
        "quant_format": QuantFormat,
    }
    function = _command_function(name)
    hints = get_type_hints(function, include_extras=True)
    shown = earmark(name, "--help", COLUMNS="400").stdout
    one = typer.Typer(add_completion=False)
    one.command(name=name)(function)
    for param in typer.main.get_command(one).params:
        if param.opts and param.opts[0].startswith("--"):
            assert param.opts[0] in shown, (name, param.opts)
        choices = _choices(hints[param.name])
        if param.name in single_source:
            assert choices == get_args(single_source[param.name]), (name, param.name)
        if choices:
            assert "<" + "|".join(choices) + ">" in shown, (name, param.opts)
