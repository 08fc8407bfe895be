"""``earmark report BATCH [--json] [--html FILE]``: stream a batch's records into its report;
``earmark report JOB_ID`` reports (and draws) one windowed job's timeline."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from producer.errors import StoreError
from producer.ids import check_batch_id, split_job_id
from producer.lookup import require_batch, require_job
from producer.report import build, render_html, render_text
from producer.report.job import job_data, load, render_job_html, render_job_text
from producer.settings import Settings
from producer.state.ledger import BatchStatus, Ledger
from producer.state.redis import connect
from producer.state.shared import ledger_url
from producer.stores import open_store
from producer.timelines import why_missing


def report(
    batch_id: Annotated[
        str,
        typer.Argument(
            metavar="BATCH_ID|JOB_ID",
            help="the batch to report on, or one windowed job of it (batch:index): its timeline",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    html: Annotated[
        Path | None, typer.Option(help="also write a self-contained HTML page with charts")
    ] = None,
) -> None:
    """Totals, top-1 labels, scores, errors, throughput and timing percentiles of a batch; or
    the segments of one windowed job's timeline, drawn as label lanes with --html."""
    if ":" in batch_id:
        _report_job(batch_id, as_json, html)
        return
    check_batch_id(batch_id)
    settings = Settings()
    store = open_store(settings.results_url, ttl_s=settings.result_ttl_s)
    status = _ledger_status(settings, batch_id)
    require_batch(batch_id, status, store)  # a typo is exit 5, not an empty report
    data = build(store, batch_id, status)
    if html is not None:
        html.write_text(render_html(data), encoding="utf-8")
    sys.stdout.write(json.dumps(data) + "\n" if as_json else render_text(data))
    sys.stdout.flush()


def _report_job(job_id: str, as_json: bool, html: Path | None) -> None:
    """One job's timeline report; exit 1, saying why, when it has no timeline."""
    batch_id, _ = split_job_id(job_id)
    settings = Settings()
    store = open_store(settings.results_url, ttl_s=settings.result_ttl_s)
    record, timeline = load(store, job_id)
    if record is None:  # a typo is exit 5; a job still running, exit 1 below
        status = _ledger_status(settings, batch_id)
        if status is None:
            require_batch(batch_id, None, store)
        else:
            require_job(job_id, status, store)
    why = why_missing(record, timeline)
    if why is not None or record is None or timeline is None:
        typer.echo(f"earmark: no timeline for {job_id}: it {why}", err=True)
        raise typer.Exit(1)
    data = job_data(record, timeline)
    if html is not None:
        html.write_text(render_job_html(data, timeline.segments), encoding="utf-8")
    sys.stdout.write(json.dumps(data) + "\n" if as_json else render_job_text(data))
    sys.stdout.flush()


def _ledger_status(settings: Settings, batch_id: str) -> BatchStatus | None:
    """The ledger's counters, or None (said on stderr) when its Redis cannot be read: the
    records in S3 or a folder still make a report."""
    try:
        return Ledger(connect(ledger_url(settings)), settings.result_ttl_s).status(batch_id)
    except StoreError as e:
        typer.echo(f"earmark: report without the ledger's counters ({e})", err=True)
        return None
