"""What one bench run measured: timed rows, stage seconds, FLOPs, and the ratios between them.

Every derived figure (a ratio to the ceiling, a share of the time, GFLOP/s) is computed here
from measured seconds, so that ``bench/summary.py`` only formats and ``tests/test_bench.py`` can
check each figure against the ones it is made of.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The path name of raw ONNX Runtime on precomputed features.
CEILING = "ceiling (raw ORT, features precomputed)"
#: The peer's dtype: PyTorch runs the checkpoint in fp32.
PEER_DTYPE = "fp32"


@dataclass(frozen=True)
class Row:
    """One timed pass: which model, dtype, workload and path, at what batch, clips and seconds."""

    model: str
    dtype: str
    workload: str
    path: str
    batch: int
    clips: int
    seconds: float
    others: float | None  # share of the machine other processes took meanwhile

    @property
    def rate(self) -> float:
        """Clips per second."""
        return self.clips / self.seconds


@dataclass(frozen=True)
class Stages:
    """Seconds each stage took over one workload's clips, timed one stage at a time."""

    fetch: float
    decode: float
    resample: float
    features: float
    model: float

    @property
    def total(self) -> float:
        """Seconds over every stage."""
        return self.fetch + self.decode + self.resample + self.features + self.model

    def shares(self) -> dict[str, float]:
        """Each stage's share of the total."""
        parts = {
            "fetch": self.fetch,
            "decode": self.decode,
            "resample": self.resample,
            "features": self.features,
            "model": self.model,
        }
        return {name: seconds / self.total for name, seconds in parts.items()}

    @property
    def preparation_vs_model(self) -> float:
        """Decode + resample + features as a fraction of model time (goal: <= 0.10)."""
        return (self.decode + self.resample + self.features) / self.model


@dataclass
class Results:
    """Everything one run measured."""

    rows: list[Row] = field(default_factory=list)
    stages: dict[tuple[str, str, str], Stages] = field(default_factory=dict)
    flops_per_clip: dict[str, int] = field(default_factory=dict)  # per model, uniform workload
    peak_gflops: float = 0.0
    notes: list[str] = field(default_factory=list)

    def ceiling(self, row: Row) -> Row | None:
        """The ceiling row a row compares with: same model, dtype, workload and batch size."""
        dtype = PEER_DTYPE if row.path.startswith("transformers") else row.dtype
        for other in self.rows:
            same = (other.model, other.dtype, other.workload, other.batch)
            if other.path == CEILING and same == (row.model, dtype, row.workload, row.batch):
                return other
        return None

    def vs_ceiling(self, row: Row) -> float | None:
        """The row's clips/s over its ceiling's."""
        base = self.ceiling(row)
        return None if base is None else row.rate / base.rate

    def gflops(self, row: Row) -> float | None:
        """Model GFLOP/s a row achieved, where its workload is the one FLOPs were counted on."""
        flops = self.flops_per_clip.get(row.model)
        if flops is None or not row.workload.startswith("keyword"):
            return None
        return flops * row.rate / 1e9

    def find(self, model: str, dtype: str, workload: str, path: str, batch: int) -> Row | None:
        """The row with exactly these keys, if measured."""
        for row in self.rows:
            if (row.model, row.dtype, row.workload, row.path, row.batch) == (
                model,
                dtype,
                workload,
                path,
                batch,
            ):
                return row
        return None
