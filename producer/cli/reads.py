"""Producer commands that read: ``earmark results`` and ``earmark status``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from producer.cli.output import print_json, print_records, say_stalled
from producer.cli.progress import LiveBar
from producer.client import Client
from producer.errors import ConfigError
from producer.timelines import why_missing


def results(
    id: Annotated[str, typer.Argument(help="a job id (batch:index) or a batch id")],
    wait: Annotated[bool, typer.Option(help="wait until every result is in")] = False,
    timeout: Annotated[float | None, typer.Option(help="give up waiting after S seconds")] = None,
    timeline: Annotated[
        bool, typer.Option(help="a job's timeline instead: its windows, then its segments")
    ] = False,
) -> None:
    """Print the result lines of a job or a batch, or a windowed job's timeline."""
    if timeline and ":" not in id:
        raise ConfigError(f"--timeline takes a job id (batch:index), not the batch {id}")
    client = Client()
    client.check_known(id)  # a typo is exit 5 at once, waiting or not
    if timeline:
        _print_timeline(client, id, wait, timeout)
        return
    if ":" in id:
        record = client.result(id, wait=wait, timeout=timeout)
        if record is None:  # without --wait: the job is known, its record not in yet
            typer.echo(f"earmark: no result for {id} yet", err=True)
            raise typer.Exit(1)
        raise typer.Exit(1 if print_records(iter([record])) else 0)
    records = client.iter_results(id, wait=wait, timeout=timeout, on_stall=say_stalled)
    raise typer.Exit(1 if print_records(records) else 0)


def _print_timeline(client: Client, job_id: str, wait: bool, timeout: float | None) -> None:
    """The job's timeline as JSON lines; exit 1 when it has none (yet), saying why."""
    record = client.result(job_id, wait=wait, timeout=timeout)
    found = None if record is None else client.timeline(job_id)
    if found is None:
        typer.echo(f"earmark: no timeline for {job_id}: it {why_missing(record, None)}", err=True)
        raise typer.Exit(1)
    for line in found.lines():
        sys.stdout.write(line + "\n")
    sys.stdout.flush()


def status(
    batch_id: Annotated[str, typer.Argument(help="the batch to count")],
    watch: Annotated[bool, typer.Option(help="print the counters as they change")] = False,
    timeout: Annotated[float | None, typer.Option(help="stop watching after S seconds")] = None,
) -> None:
    """Print {"batch_id", "total", "done", "failed", "pending"}; with --watch, every change
    (a live bar on a terminal, then the last counters)."""
    client = Client()
    current = client.status(batch_id)  # a typo is exit 5 at once, watching or not
    if not watch:
        print_json(current.model_dump())
        return
    statuses = client.watch(batch_id, timeout=timeout, on_stall=say_stalled).statuses()
    if sys.stdout.isatty():
        with LiveBar(sys.stdout, transient=False) as bar:
            for current in statuses:
                bar.update(current)
        print_json(current.model_dump())
        return
    last = None
    for current in statuses:
        if current != last:
            print_json(current.model_dump())
            last = current
