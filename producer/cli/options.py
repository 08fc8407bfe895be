"""Flags more than one command takes, declared once: the window flags of ``earmark enqueue``
and ``earmark classify`` (`producer.windowing.window_options` reads them)."""

from __future__ import annotations

from typing import Annotated

import typer

from producer.windowing import Aggregate

Window = Annotated[
    float | None, typer.Option(help="label in sliding windows of S seconds (long recordings)")
]
Hop = Annotated[float | None, typer.Option(help="seconds between windows [default: --window]")]
Pooling = Annotated[
    Aggregate | None, typer.Option(help="how windows pool into labels [default: mean]")
]
Timeline = Annotated[
    bool,
    typer.Option(
        "--timeline/--no-timeline",
        "--per-window",  # `earmark classify`'s old spelling
        help="keep every window's labels and their merged segments",
    ),
]
Threshold = Annotated[
    float | None, typer.Option(help="lowest top score a window needs to join a segment")
]
