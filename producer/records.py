"""Result records: the JSON object written for every reference, ok or not.

A record never holds a credential: its ``input`` and error ``message`` are redacted when the
record is built (`producer.redact`), whatever the reference carried for fetching.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from producer.errors import EarmarkError
from producer.redact import redact, redact_ref

#: A reference as a record shows it: a URL's password and signing parameters masked (issue 5).
ShownRef = Annotated[str, AfterValidator(redact_ref)]
#: A message as a record shows it: every credential it quotes masked.
ShownText = Annotated[str, AfterValidator(redact)]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Label(_Record):
    """One label and its score."""

    label: str
    score: float


class ErrorInfo(_Record):
    """Why a reference has no labels: a stable code and a human sentence."""

    code: str
    message: ShownText

    @classmethod
    def from_exception(cls, error: BaseException) -> ErrorInfo:
        """Describe any exception; earmark's own carry their code, anything else is internal."""
        code = error.code if isinstance(error, EarmarkError) else "internal"
        return cls(code=code, message=str(error) or type(error).__name__)


class ModelInfo(_Record):
    """Which model produced the labels."""

    id: str
    revision: str | None = None
    dtype: str


class AudioInfo(_Record):
    """The input as decoded, before downmix and resampling."""

    duration_s: float
    sample_rate: int
    channels: int
    truncated: bool = False
    #: Which decoder made the samples: always "reference" now; "fast" appears only in records
    #: written before that decoder was removed, and stays here so that they still parse.
    decoder: Literal["reference", "fast"] | None = None


class Timings(_Record):
    """Seconds spent in each stage of one reference."""

    queued_s: float | None = None
    fetch_s: float | None = None
    decode_s: float | None = None
    infer_s: float | None = None


class WindowSummary(_Record):
    """How a long recording was windowed; its timeline (if kept) is stored beside the record."""

    window_s: float
    hop_s: float
    aggregate: Literal["mean", "max"]
    #: Windows the recording was cut into.
    count: int
    #: True when the job asked for no windows and ``EARMARK_WINDOWS=auto`` cut them, at the
    #: model's natural length, because the model could not take the clip whole.
    auto: bool = False
    #: Whether the timeline is stored beside the record (`producer.timelines`).
    timeline: bool = False
    #: Segments in the timeline (None without one).
    segments: int | None = None


class ResultRecord(_Record):
    """One reference's answer: labels when ``status`` is ok, an error otherwise."""

    job_id: str | None = None
    batch_id: str | None = None
    input: ShownRef
    status: Literal["ok", "error"]
    labels: list[Label] | None = None
    windows: WindowSummary | None = None
    error: ErrorInfo | None = None
    model: ModelInfo | None = None
    audio: AudioInfo | None = None
    timings: Timings = Field(default_factory=Timings)
    worker: str | None = None
    finished_at: str = Field(default_factory=lambda: utc_now())
    meta: dict[str, Any] | None = None
    #: What would have labelled the whole input, when it was cut (``audio.truncated``) or
    #: refused as too long for one model call (``too_large``): the window option to ask for.
    hint: str | None = None

    @property
    def has_timeline(self) -> bool:
        """Whether a timeline was kept beside this record (its job asked for one and ran)."""
        return self.windows is not None and self.windows.timeline

    def to_json(self) -> str:
        """One line of JSON without the fields that do not apply."""
        return self.model_dump_json(exclude_none=True)


def utc_now() -> str:
    """Now in UTC, ISO 8601 to the second with a ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
