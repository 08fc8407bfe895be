"""What the commands print: JSON lines on stdout, the progress of a wait on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import typer

from producer.cli.progress import LiveBar, PlainLines
from producer.records import ResultRecord
from producer.state.ledger import BatchStatus
from producer.watch import Watch, describe


def wait_for_records(watch: Watch) -> bool:
    """Print each record as it lands, with the batch's progress on stderr; True if any failed."""
    if not sys.stderr.isatty():
        watch.on_status = PlainLines(sys.stderr).update
        return print_records(watch.records())
    with LiveBar(sys.stderr, transient=True) as bar:
        watch.on_status = bar.update
        return print_records(watch.records())


def say_stalled(current: BatchStatus, quiet_s: float) -> None:
    """One line on stderr: the batch has gone quiet."""
    typer.echo(
        f"earmark: no job of batch {current.batch_id} has finished for {quiet_s:.0f} s"
        f" ({describe(current)}): is a worker consuming its queue?",
        err=True,
    )


def print_records(records: Iterator[ResultRecord]) -> bool:
    """Each record as a JSON line; True if any failed."""
    failed = False
    for record in records:
        failed |= record.status != "ok"
        sys.stdout.write(record.to_json() + "\n")
        sys.stdout.flush()
    return failed


def print_json(value: object) -> None:
    """`value` as one JSON line."""
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()
