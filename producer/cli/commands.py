"""Producer commands that send: ``earmark enqueue`` and ``earmark dlq``."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from producer.cli import options
from producer.cli.interrupt import Interrupted, SignalGuard
from producer.cli.output import print_json, say_stalled, wait_for_records
from producer.client import Client, Submission
from producer.errors import ConfigError, NothingToQueue
from producer.ids import check_batch_id, new_batch_id
from producer.messages import Job, check_top_k
from producer.redact import redact_ref
from producer.settings import Settings
from producer.sources import (
    AUDIO_EXTENSIONS,
    SourceItem,
    check_folder_readable,
    check_manifest,
    check_refs,
    from_folder,
    from_manifest,
    from_refs,
    from_s3_prefix,
)
from producer.state.eviction import read_all
from producer.stores.aws import make_s3_client
from producer.windowing import Aggregate, WindowOptions, window_options

#: ``--dir``'s help: which files it picks (`producer.sources.AUDIO_EXTENSIONS`) and where.
_FOLDER_HELP = (
    f"queue the audio files under it, by extension ({' '.join(sorted(AUDIO_EXTENSIONS))});"
    " it must lie under EARMARK_LOCAL_ROOTS"
)


_Refs = Annotated[
    list[str] | None, typer.Argument(help="references to queue: absolute paths, s3://, URLs")
]
_Manifest = Annotated[
    Path | None,
    typer.Option(help="one reference a line, or JSON lines", exists=True, dir_okay=False),
]
_Folder = Annotated[
    Path | None, typer.Option("--dir", help=_FOLDER_HELP, exists=True, file_okay=False)
]
_Interactive = Annotated[
    bool, typer.Option(help="one message per reference on the interactive queue")
]
_AllowEmpty = Annotated[
    bool, typer.Option(help="queue an empty batch when there is nothing to send (else exit 2)")
]


def enqueue(
    refs: _Refs = None,
    manifest: _Manifest = None,
    dir: _Folder = None,
    s3_prefix: Annotated[str | None, typer.Option(help="queue the objects under s3://b/p")] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", help="labels per result")] = None,
    batch_id: Annotated[str | None, typer.Option(help="add to this batch")] = None,
    wait: Annotated[bool, typer.Option(help="then print each result as it arrives")] = False,
    timeout: Annotated[float | None, typer.Option(help="stop waiting after S seconds")] = None,
    interactive: _Interactive = False,
    allow_empty: _AllowEmpty = False,
    window: options.Window = None,
    hop: options.Hop = None,
    aggregate: options.Pooling = None,
    timeline: options.Timeline = False,
    threshold: options.Threshold = None,
) -> None:
    """Queue references; print {"batch_id", "jobs"}, interrupted too (then exit 130, or 143 on
    SIGTERM); with --wait, then every result line."""
    batch_id = check_batch_id(batch_id) if batch_id is not None else new_batch_id()
    check_top_k(top_k)
    windows = _window_flags(window, hop, aggregate, timeline, threshold)
    check_refs(refs or [])
    client = Client()
    _warn_eviction(client.settings)
    _check_folder(client.settings, dir)
    plan = _Plan(refs or [], manifest, dir, s3_prefix, not interactive, allow_empty, windows)
    submission = _send(client, plan, batch_id, top_k)
    print_json({"batch_id": submission.batch_id, "jobs": submission.jobs})
    if wait:
        watch = client.watch(submission.batch_id, timeout=timeout, on_stall=say_stalled)
        raise typer.Exit(1 if wait_for_records(watch) else 0)


def _window_flags(
    window: float | None,
    hop: float | None,
    aggregate: Aggregate | None,
    timeline: bool,
    threshold: float | None,
) -> WindowOptions | None:
    """The window flags as options; ConfigError (exit 2) naming the flag for a refused one."""
    try:
        return window_options(window, hop, aggregate, timeline, threshold)
    except ValueError as e:
        raise ConfigError(str(e)) from e


def _warn_eviction(settings: Settings) -> None:
    """One line on stderr for each Redis whose maxmemory-policy would evict this batch's keys
    (a worker refuses to start on one; producer/state/eviction.py)."""
    for memory in read_all(settings):
        if memory.evicting:
            typer.echo(f"earmark: warning: {memory.describe()}", err=True)


def _check_folder(settings: Settings, folder: Path | None) -> None:
    """ConfigError (exit 2) for a folder no worker would read, naming EARMARK_LOCAL_ROOTS."""
    if folder is None:
        return
    roots_set = "local_roots" in settings.model_fields_set
    check_folder_readable(folder, settings.local_root_list, roots_set)


@dataclass(frozen=True)
class _Plan:
    """What an enqueue reads, and how it sends it."""

    refs: list[str]
    manifest: Path | None
    folder: Path | None
    s3_prefix: str | None
    bulk: bool
    allow_empty: bool
    #: The batch's window options (a manifest line may name its own).
    window: WindowOptions | None = None

    def empty(self) -> str:
        """What was empty, in words, for the usage error of an enqueue that sent nothing."""
        parts = [
            *([f"manifest {self.manifest} lists no reference"] if self.manifest else []),
            *([f"no audio file under {self.folder} (see --help for the extensions)"]
              if self.folder else []),
            *([f"no audio object under {self.s3_prefix}"] if self.s3_prefix else []),
        ]  # fmt: skip
        said = "; ".join(parts) or "no reference, --manifest, --dir or --s3-prefix given"
        return f"nothing to queue: {said} (--allow-empty queues an empty batch)"


def _send(client: Client, plan: _Plan, batch_id: str, top_k: int | None) -> Submission:
    """Check, then queue, `plan`; on any stop, even a signal, print what was sent first."""
    sent, checked = [0], False
    with SignalGuard() as guard:
        try:
            # A manifest is checked whole before anything is sent; its length gives the bar an ETA.
            with guard.reading():
                known = len(plan.refs) + (check_manifest(plan.manifest) if plan.manifest else 0)
            checked = True
            total = None if plan.folder or plan.s3_prefix else known
            items = guard.items(_sources(plan))
            return _submit(client, items, batch_id, top_k, plan, total, _adder(sent, guard))
        except NothingToQueue as e:
            raise NothingToQueue(plan.empty()) from e  # nothing was sent, nothing to print
        except (Exception, Interrupted) as e:
            # A folder or a prefix is checked as it streams, and a signal stops between groups:
            # say what was queued before the stop (a refused manifest sent nothing: no line).
            if checked or isinstance(e, Interrupted):
                print_json({"batch_id": batch_id, "jobs": sent[0]})
            raise


dlq = typer.Typer(help="Jobs that crashed their worker too often.", no_args_is_help=True)


@dlq.command("list")
def dlq_list() -> None:
    """Print the dead-lettered jobs, newest first, one JSON line each."""
    for entry in Client().dead_letters.entries():
        if isinstance(entry.get("job"), dict) and isinstance(entry["job"].get("ref"), str):
            entry["job"]["ref"] = redact_ref(entry["job"]["ref"])  # kept whole for replay only
        print_json(entry)


@dlq.command("retry")
def dlq_retry() -> None:
    """Queue every dead-lettered job again, under its own job id; print how many.

    Dead-lettered messages that name no job stay on the list: there is nothing to run.
    """
    client = Client()
    replayed, kept = 0, []
    while (entry := client.dead_letters.pop_oldest()) is not None:
        if "job" in entry:
            client.replay(Job.model_validate(entry["job"]))
            replayed += 1
        else:
            kept.append(entry)
    client.dead_letters.put_back(kept)
    print_json({"replayed": replayed, "kept": len(kept)})


def _sources(plan: _Plan) -> Iterator[SourceItem]:
    chained: list[Iterator[SourceItem]] = [from_refs(plan.refs)]
    if plan.manifest is not None:
        chained.append(from_manifest(plan.manifest))
    if plan.folder is not None:
        chained.append(from_folder(plan.folder))
    if plan.s3_prefix is not None:
        chained.append(from_s3_prefix(make_s3_client(), plan.s3_prefix))
    return itertools.chain.from_iterable(chained)


class _RateColumn(ProgressColumn):
    """References queued per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} refs/s" if speed else "- refs/s")


def _submit(
    client: Client,
    items: Iterator[SourceItem],
    batch_id: str,
    top_k: int | None,
    plan: _Plan,
    total: int | None,
    add: Callable[[int], None],
) -> Submission:
    """Queue `items`, telling `add` each group sent, with a bar on a terminal."""
    options: dict[str, Any] = {
        "batch_id": batch_id,
        "top_k": top_k,
        "bulk": plan.bulk,
        "allow_empty": plan.allow_empty,
        "window": plan.window,
    }
    if not sys.stderr.isatty():
        return client.submit_many(items, on_progress=add, **options)
    columns = (
        TextColumn("queued"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True, console=Console(stderr=True)) as progress:
        task = progress.add_task("enqueue", total=total)

        def advance(n: int) -> None:
            progress.advance(task, n)
            add(n)

        return client.submit_many(items, on_progress=advance, **options)


def _adder(sent: list[int], guard: SignalGuard) -> Callable[[int], None]:
    """Counts each group sent in ``sent[0]``, then stops if a signal came during it."""

    def add(n: int) -> None:
        sent[0] += n
        guard.check()

    return add
