"""The ``earmark`` root command: the Typer app, ``--debug``, the exit codes and :func:`main`,
which registers the producer's commands and, only when another is asked for, the worker's."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Annotated

import typer
from pydantic import ValidationError

# Typer vendors click and re-exports none of its usage errors; they are caught here to say them
# in one line, as docs/cli.md's exit codes promise, instead of click's boxed multi-line message.
from typer._click.exceptions import ClickException, NoArgsIsHelpError

from producer.cli.interrupt import Interrupted
from producer.errors import (
    ConfigError,
    EarmarkError,
    InvalidId,
    InvalidReference,
    ModelError,
    RetryableError,
    UnknownId,
    WaitTimedOut,
)
from producer.messages import describe_invalid
from producer.redact import redact

app = typer.Typer(
    name="earmark",
    help="Label audio at scale: queue references, run workers, read results.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Entry-point group through which `earmark[worker]` adds `classify` and `worker`, so that this
#: package never imports the worker package itself.
COMMANDS_GROUP = "earmark.commands"
#: The commands this package defines; running one needs none of the entry point's.
PRODUCER_COMMANDS = frozenset({"enqueue", "results", "status", "report", "dlq"})


#: Exit codes, the same for every command (docs/cli.md, "Exit codes").
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_TIMED_OUT = 0, 1, 2, 3, 4
#: Nothing is known under the batch or job id given (a typo, or expired).
EXIT_UNKNOWN = 5
#: A command stopped by a signal exits 128 + its number, as a shell reports it (130: SIGINT).
EXIT_SIGNALLED = 128

_debug = False


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option(help="show tracebacks of failures")] = False,
) -> None:
    """Label audio at scale: queue references, run workers, read results."""
    global _debug
    _debug = debug


def exit_code(error: EarmarkError) -> int:
    """The exit code of a command that stopped on `error`."""
    if isinstance(error, WaitTimedOut):
        return EXIT_TIMED_OUT
    if isinstance(error, UnknownId):
        return EXIT_UNKNOWN
    if isinstance(error, RetryableError):  # the broker or a store is unreachable
        return EXIT_UNAVAILABLE
    if isinstance(error, ConfigError | InvalidId | InvalidReference | ModelError):
        return EXIT_USAGE
    return EXIT_FAILED


def _command_named(args: list[str]) -> str | None:
    """The subcommand in `args`: the first word that is not an option (the root's only option,
    ``--debug``, takes no value)."""
    return next((arg for arg in args if not arg.startswith("-")), None)


def _register_plugins() -> None:
    for entry in entry_points(group=COMMANDS_GROUP):
        try:
            app.command(name=entry.name)(entry.load())
        except ImportError as e:
            app.command(name=entry.name, hidden=True)(_missing_extra(entry.name, e))


def _missing_extra(name: str, error: ImportError) -> Callable[[], None]:
    def missing() -> None:
        typer.echo(f"earmark {name} needs `pip install earmark[worker]` ({error})", err=True)
        raise typer.Exit(2)

    return missing


def main() -> None:
    """Run the command line."""
    from producer.cli.commands import dlq, enqueue
    from producer.cli.reads import results, status
    from producer.cli.report import report

    app.add_typer(dlq, name="dlq")
    app.command()(enqueue)
    app.command()(results)
    app.command()(status)
    app.command()(report)
    if _command_named(sys.argv[1:]) not in PRODUCER_COMMANDS:
        _register_plugins()  # the worker side's imports cost a producer command ~0.2 s
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as e:  # a bare `earmark` or command group: its help
        if help_text := e.format_message().strip():  # typer's rich help is printed already
            typer.echo(help_text, err=True)
        sys.exit(EXIT_USAGE)
    except ClickException as e:  # a bad flag, option value or missing argument
        _stop(usage_error(e), EXIT_USAGE, e)
    except ValidationError as e:  # a refused reference, id or field, before anything was sent
        _stop(f"refused: {describe_invalid(e)}", EXIT_USAGE, e)
    except EarmarkError as e:
        _stop(str(e), exit_code(e), e)
    except typer.Abort as e:
        _stop("aborted", EXIT_FAILED, e)
    except Interrupted as e:  # a signal an enqueue stopped on (Typer exits 130 on Ctrl-C)
        _stop(f"interrupted ({signal.Signals(e.signum).name})", EXIT_SIGNALLED + e.signum, e)
    sys.exit(code if isinstance(code, int) else EXIT_OK)  # `--help` and typer.Exit give a code


def usage_error(error: ClickException) -> str:
    """Click's usage message in one line: what was wrong and where the command's help is."""
    # Typer prefixes a refused choice with pydantic's "Value error, "; the rest says it all.
    message = " ".join(error.format_message().split()).replace("Value error, ", "")
    context = getattr(error, "ctx", None)
    return f"{message} (see `{context.command_path} --help`)" if context else message


def _stop(message: str, code: int, error: BaseException) -> None:
    """One line on stderr (a traceback with --debug), then exit with `code`."""
    if _debug:
        raise error
    typer.echo(f"earmark: {redact(message)}", err=True)
    sys.exit(code)
