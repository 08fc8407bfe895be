"""Flags more than one command takes, declared once: the window flags of ``earmark enqueue``
and ``earmark classify`` (`producer.windowing.window_options` reads them)."""

from __future__ import annotations

from typing import Annotated

import typer

from producer.windowing import Aggregate

Window = Annotated[
    float | None, typer.Option(help="label in sliding windows of S seconds (long recordings)")
]
Hop = Annotated[
    float | None, typer.Option(help="seconds between windows (default: the window's length)")
]
Pooling = Annotated[
    Aggregate | None, typer.Option(help="how windows pool into labels (default: mean)")
]
Timeline = Annotated[
    bool,
    typer.Option(
        "--timeline/--no-timeline", help="keep every window's labels and their merged segments"
    ),
]
#: `earmark classify`'s, which also takes its old spelling.
ClassifyTimeline = Annotated[
    bool,
    typer.Option(
        "--timeline/--no-timeline",
        "--per-window",
        help="also print every window's labels and their merged segments",
    ),
]
Threshold = Annotated[
    float | None, typer.Option(help="lowest top score a window needs to join a segment")
]
