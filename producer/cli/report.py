"""``earmark report BATCH [--json] [--html FILE]``: stream a batch's records into its report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from producer.errors import StoreError
from producer.ids import check_batch_id
from producer.lookup import require_batch
from producer.report import build, render_html, render_text
from producer.settings import Settings
from producer.state.ledger import BatchStatus, Ledger
from producer.state.redis import connect
from producer.state.shared import ledger_url
from producer.stores import open_store


def report(
    batch_id: Annotated[str, typer.Argument(help="the batch to report on")],
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    html: Annotated[
        Path | None, typer.Option(help="also write a self-contained HTML page with charts")
    ] = None,
) -> None:
    """Totals, top-1 labels, scores, errors, throughput and timing percentiles of a batch."""
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


def _ledger_status(settings: Settings, batch_id: str) -> BatchStatus | None:
    """The ledger's counters, or None (said on stderr) when its Redis cannot be read: the
    records in S3 or a folder still make a report."""
    try:
        return Ledger(connect(ledger_url(settings)), settings.result_ttl_s).status(batch_id)
    except StoreError as e:
        typer.echo(f"earmark: report without the ledger's counters ({e})", err=True)
        return None
