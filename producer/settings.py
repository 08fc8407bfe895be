"""Settings: read once from the environment (prefix ``EARMARK_``) into one object."""

from __future__ import annotations

import logging
import os
from functools import cache
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from producer import defaults

Dtype = Literal["fp32", "q8", "fp16", "int8"]
#: ONNX Runtime's memory after a model call (worker/model.py says what each does).
MemoryArena = Literal["adaptive", "keep", "shrink", "off"]
#: How clips of different lengths may share a model call (worker/batching.py).
Batching = Literal["exact", "padded"]

#: The production model: keyword spotting, as Transformers-PHP's documentation shows it.
DEFAULT_MODEL = "Xenova/wav2vec2-base-superb-ks"


class Settings(BaseSettings):
    """Everything earmark reads from the environment; flags on the command line override it."""

    model_config = SettingsConfigDict(env_prefix="EARMARK_", frozen=True)

    broker_url: str = "redis://localhost:6379/0"
    results_url: str = "redis://localhost:6379/1"
    model: str = DEFAULT_MODEL
    model_revision: str = "main"
    dtype: Dtype = "q8"
    top_k: int = Field(default=1, ge=0)
    max_batch: int = Field(default=16, ge=1)
    max_wait_ms: int = Field(default=50, ge=0)
    #: Most seconds of (padded) audio in one model call: its activations grow with it.
    max_batch_seconds: float = Field(default=12.0, gt=0)
    #: Most bytes of decoded audio one process holds ahead of the model (64 MiB).
    max_inflight_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    #: Worker log lines: json, text, or auto (json when stderr is not a terminal).
    log_format: Literal["json", "text", "auto"] = "auto"
    #: ONNX Runtime's memory after each model call: adaptive (kept while shapes repeat,
    #: handed back when they change), shrink (always handed back), keep, or off.
    memory_arena: MemoryArena = "adaptive"
    local_roots: str = Field(default_factory=os.getcwd)
    url_allow_private: bool = False
    max_bytes: int = Field(default=defaults.MAX_BYTES, ge=1)
    max_seconds: float = Field(default=600.0, gt=0)
    #: Longest recording a windowed job labels, in seconds: it is streamed, never held whole.
    max_windowed_seconds: float = Field(default=24 * 3600.0, gt=0)
    #: Largest input a windowed job reads, in bytes (10 GiB), streamed as it is decoded.
    max_windowed_bytes: int = Field(default=10 * 1024**3, ge=1)
    #: Most memory, in MB, one clip's model call may take by the model's estimate: a longer clip
    #: gets a too_large record (attention grows with its square). 0: no bound.
    max_call_mb: int = Field(default=2048, ge=0)
    #: Seconds to wait for a connection to a URL's or S3's server.
    fetch_connect_timeout_s: float = Field(default=defaults.FETCH_CONNECT_TIMEOUT_S, gt=0)
    #: Seconds to wait for any one read from it.
    fetch_read_timeout_s: float = Field(default=defaults.FETCH_READ_TIMEOUT_S, gt=0)
    #: Seconds one URL fetch may take in all (a server trickling bytes is cut off).
    fetch_timeout_s: float = Field(default=defaults.FETCH_TIMEOUT_S, gt=0)
    #: Tries of a URL or S3 fetch that failed for a reason that may pass (timeouts, 5xx).
    fetch_attempts: int = Field(default=defaults.FETCH_ATTEMPTS, ge=1)
    #: Seconds of the first pause between those tries; each pause doubles, up to 8 s.
    fetch_retry_base_s: float = Field(default=defaults.FETCH_RETRY_BASE_S, gt=0)
    result_ttl_s: int = Field(default=defaults.RESULT_TTL_S, ge=1)
    #: Seconds a bulk chunk may run before its process is killed (its unfinished jobs run again).
    chunk_time_limit_s: float = Field(default=3600.0, gt=0)
    #: ONNX Runtime threads per process; 0 lets `earmark worker` divide the cores among processes.
    intra_op_threads: int = Field(default=0, ge=0)
    #: The worker's Prometheus /metrics and /healthz port; 0 turns them off.
    metrics_port: int = Field(default=9808, ge=0, le=65535)
    #: How inputs become samples: `reference`, the transformers pipeline's ffmpeg decode,
    #: downmix and resample, is the only decoder; the old spelling `fast` (libsndfile + soxr,
    #: removed: it moved scores) is still accepted, decodes as `reference` and is logged once.
    decoder: Literal["reference"] = "reference"
    #: ONNX Runtime execution providers in order of preference, comma-separated.
    providers: str = "CPUExecutionProvider"
    #: A provider this onnxruntime cannot give: false stops with a config error (exit 2), true
    #: runs on those it can (CPU at least) and logs a warning.
    provider_fallback: bool = False
    #: `exact` never changes a score; `padded` pads clips of near lengths into one call.
    batching: Batching = "exact"
    #: A clip the model cannot take whole (over the call bound, or longer than a fixed-length
    #: extractor's input): `off` refuses or cuts it as the reference does; `auto` windows it at
    #: the model's natural length (producer/windowing.py) and its record says so.
    windows: Literal["off", "auto"] = "off"
    #: Start a worker on a Redis whose maxmemory-policy evicts keys (it refuses otherwise,
    #: producer/state/eviction.py): batches and records are then lost when Redis fills.
    allow_eviction: bool = False
    # Delivery timers (producer/broker.py, worker/service/heartbeat.py and sweeper.py). Every
    # process on one broker must agree on them; tests run workers with short ones.
    #: Seconds a delivered, unacknowledged message stays invisible before it is put back on its
    #: queue: how soon a crashed worker's messages come back.
    visibility_timeout_s: float = Field(default=60.0, gt=0)
    #: Seconds between a worker's heartbeats on the messages it holds (keeps them invisible).
    heartbeat_s: float = Field(default=10.0, gt=0)
    #: Seconds between a consumer's looks for messages past the visibility timeout.
    restore_interval_s: float = Field(default=10.0, gt=0)
    #: Seconds between sweeps for booked messages that no queue and no worker holds.
    sweep_s: float = Field(default=15.0, gt=0)
    #: Seconds a booked message must stay missing before the sweeper sends it again.
    sweep_confirm_s: float = Field(default=10.0, gt=0)
    # glibc's malloc parameters, read under glibc's own names (no EARMARK_ prefix) so that the
    # worker's malloc tuning (worker/service/runtime.tune_malloc) leaves an operator's own value
    # in place. Kept as the text glibc reads, unchecked: glibc parses them, not earmark, and a
    # value glibc would ignore must not stop a producer command.
    #: ``MALLOC_ARENA_MAX`` as set (even empty), or None when it is not.
    malloc_arena_max: str | None = Field(default=None, validation_alias="MALLOC_ARENA_MAX")
    #: ``MALLOC_MMAP_THRESHOLD_`` (trailing underscore: glibc's spelling) as set, or None.
    malloc_mmap_threshold: str | None = Field(
        default=None, validation_alias="MALLOC_MMAP_THRESHOLD_"
    )
    #: ``GLIBC_TUNABLES`` as set: ``name=value`` pairs, ``:``-separated
    #: (``glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=131072``); empty when unset.
    glibc_tunables: str = Field(default="", validation_alias="GLIBC_TUNABLES")

    @field_validator("local_roots")
    @classmethod
    def _roots_not_empty(cls, value: str) -> str:
        if not any(part for part in value.split(":")):
            raise ValueError("EARMARK_LOCAL_ROOTS names no folder")
        return value

    @field_validator("decoder", mode="before")
    @classmethod
    def _fast_decodes_as_reference(cls, value: object) -> object:
        if value == "fast":
            _deprecated("EARMARK_DECODER=fast is deprecated and decodes as `reference`")
            return "reference"
        return value

    @field_validator("providers")
    @classmethod
    def _providers_named(cls, value: str) -> str:
        if not value.strip(" ,"):
            raise ValueError("EARMARK_PROVIDERS names no execution provider")
        return value

    @model_validator(mode="after")
    def _timers_consistent(self) -> Settings:
        # Three heartbeats a visibility timeout: one late beat must not redeliver a live job.
        if self.heartbeat_s * 3 > self.visibility_timeout_s:
            raise ValueError(
                f"EARMARK_HEARTBEAT_S ({self.heartbeat_s:g}) must be at most a third of "
                f"EARMARK_VISIBILITY_TIMEOUT_S ({self.visibility_timeout_s:g})"
            )
        if self.restore_interval_s > self.visibility_timeout_s:
            raise ValueError(
                f"EARMARK_RESTORE_INTERVAL_S ({self.restore_interval_s:g}) must not exceed "
                f"EARMARK_VISIBILITY_TIMEOUT_S ({self.visibility_timeout_s:g})"
            )
        return self

    @property
    def provider_list(self) -> tuple[str, ...]:
        """The ONNX Runtime execution providers, in order of preference."""
        return tuple(name.strip() for name in self.providers.split(",") if name.strip())

    @property
    def local_root_list(self) -> tuple[str, ...]:
        """The folders local references may read, as given."""
        return tuple(part for part in self.local_roots.split(":") if part)


@cache
def _deprecated(message: str) -> None:
    """Log a deprecated setting once per process, however many Settings are built."""
    logging.getLogger(__name__).warning(message)
