"""Sliding windows as a job option: how a long recording is cut, pooled and kept as a timeline.

A job, a chunk or a single reference of a chunk may carry a ``window`` object; the worker cuts
its clip into windows of ``window_s`` every ``hop_s`` (each the same length, so windows batch
together), pools their scores into the record's labels by ``aggregate``, and with ``timeline``
keeps every window's labels and their merged segments beside the record (`producer.timelines`).
Every field is checked here, at the boundary, as the message's other fields are.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, model_validator

#: How the windows' scores pool into the record's ``labels``.
Aggregate = Literal["mean", "max"]

#: Shortest window or hop, in seconds: a window shorter than a model's receptive field is refused
#: by the model (``inference_failed``); one of a few samples is refused here.
MIN_WINDOW_S = 0.01
#: Longest window, in seconds: a window is one model call, bounded like any clip.
MAX_WINDOW_S = 3600.0
#: Most windows one recording is cut into: a 24-hour recording at a 1 s hop is 86,400.
MAX_WINDOWS = 200_000
#: Largest timeline kept, in bytes of JSON lines: 200,000 windows of one label fit ten times.
MAX_TIMELINE_BYTES = 100 * 1024 * 1024

#: A length of a window or hop, in seconds: finite, from MIN_WINDOW_S to MAX_WINDOW_S.
#: A JSON number, never a string ("1" is refused as top_k's "1" is).
Seconds = Annotated[
    float, Field(strict=True, ge=MIN_WINDOW_S, le=MAX_WINDOW_S, allow_inf_nan=False)
]


class WindowOptions(BaseModel):
    """Cut a clip into ``window_s`` windows every ``hop_s``; pool, and keep a timeline if asked.

    ``hop_s`` defaults to ``window_s`` (windows side by side) and may not exceed it (windows
    would skip audio). ``threshold`` is the lowest top score a window may have to count in a
    segment of the timeline (None: every window counts).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_s: Seconds
    hop_s: Seconds | None = None
    aggregate: Aggregate = "mean"
    timeline: StrictBool = False
    threshold: Annotated[float, Field(strict=True, allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def _hop_within_window(self) -> WindowOptions:
        if self.hop_s is not None and self.hop_s > self.window_s:
            raise ValueError("hop_s is longer than window_s: the windows would skip audio")
        return self

    @property
    def hop(self) -> float:
        """The hop in seconds (``window_s`` when not given)."""
        return self.window_s if self.hop_s is None else self.hop_s

    def bounds(self, num_samples: int, rate: int) -> list[tuple[int, int]]:
        """Sample ranges of the windows covering a clip of `num_samples` at `rate` Hz.

        Every window has the same length, so windows batch together even on graphs that only
        batch equal lengths: the last one is aligned to the clip's end rather than cut short. A
        clip no longer than one window is a single window.
        """
        size = max(1, round(self.window_s * rate))
        hop = max(1, round(self.hop * rate))
        if num_samples <= size:
            return [(0, num_samples)]
        starts = list(range(0, num_samples - size + 1, hop))
        if starts[-1] + size < num_samples:
            starts.append(num_samples - size)
        return [(start, start + size) for start in starts]

    def count(self, num_samples: int, rate: int) -> int:
        """How many windows `bounds` gives, without listing them."""
        size = max(1, round(self.window_s * rate))
        hop = max(1, round(self.hop * rate))
        if num_samples <= size:
            return 1
        full = (num_samples - size) // hop + 1
        return full + (1 if (full - 1) * hop + size < num_samples else 0)


#: The command-line flag of each field, for refusals a user of `earmark` reads.
_FLAGS = {"window_s": "--window", "hop_s": "--hop", "threshold": "--threshold"}


def window_options(
    window: float | None,
    hop: float | None = None,
    aggregate: Aggregate | None = None,
    timeline: bool = False,
    threshold: float | None = None,
) -> WindowOptions | None:
    """The options the window flags of ``earmark classify`` and ``enqueue`` ask for (None: no
    windows); ValueError naming the flag for a refused value, or for one given without
    ``--window``."""
    if window is None:
        if hop is not None or aggregate is not None or timeline or threshold is not None:
            raise ValueError("--hop, --aggregate, --timeline and --threshold need --window")
        return None
    try:
        return WindowOptions(
            window_s=window,
            hop_s=hop,
            aggregate=aggregate or "mean",
            timeline=timeline,
            threshold=threshold,
        )
    except ValidationError as e:
        problems = e.errors(include_input=False, include_url=False)
        # A problem of no one field is the hop's: only the hop is checked against the window.
        raise ValueError(
            "; ".join(
                f"{_FLAGS.get(str(p['loc'][0]) if p['loc'] else 'hop_s')}: "
                + p["msg"].removeprefix("Value error, ")
                for p in problems
            )
        ) from None
