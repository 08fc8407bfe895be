"""Worker-side commands: ``earmark classify`` (in-process, no queue), ``earmark worker``,
``earmark fetch-model`` and ``earmark optimize``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, cast, get_args

import typer

from producer.errors import ConfigError
from producer.messages import BULK_QUEUE, INTERACTIVE_QUEUE
from producer.settings import Settings
from worker.classification import pipeline
from worker.hub import resolve_model
from worker.labeling import LabelOptions
from worker.optimize import QuantFormat, StaticQuantization
from worker.optimize import optimize as write_static_int8
from worker.postprocess import FunctionChoice
from worker.windows import WindowSpec


def classify(
    refs: Annotated[list[str], typer.Argument(help="Audio references: paths, s3://, http(s)://")],
    model: Annotated[str | None, typer.Option(help="Hub repo id or local folder")] = None,
    dtype: Annotated[str | None, typer.Option(help="fp32, q8, fp16 or int8")] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", help="labels per input; 0 = all")] = None,
    batch_size: Annotated[int | None, typer.Option(help="most clips in one model call")] = None,
    function: Annotated[
        str, typer.Option("--function", help="auto, softmax, sigmoid or none")
    ] = "auto",
    window: Annotated[float | None, typer.Option(help="sliding window length, s")] = None,
    hop: Annotated[float | None, typer.Option(help="sliding window hop, s")] = None,
    aggregate: Annotated[str, typer.Option(help="pool windows by mean or max")] = "mean",
    per_window: Annotated[bool, typer.Option(help="also print each window's labels")] = False,
    batching: Annotated[
        str | None, typer.Option(help="exact, or padded: near lengths share calls (scores move)")
    ] = None,
) -> None:
    """Classify references in this process and print one JSON line each, in input order."""
    overrides: dict[str, Any] = {
        "model": model,
        "dtype": dtype,
        "top_k": top_k,
        "max_batch": batch_size,
        "batching": batching,
    }
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
        spec = _window_spec(window, hop, aggregate, per_window)
        options = LabelOptions(top_k=settings.top_k, function=_function(function))
    except ValueError as e:
        raise ConfigError(str(e)) from e
    classify = pipeline(settings=settings)  # a model that cannot load is a usage error too
    failed = False
    for record in classify.iter_records(refs, options=options, window=spec):
        failed |= record.status != "ok"
        sys.stdout.write(record.to_json() + "\n")
        sys.stdout.flush()
    raise typer.Exit(1 if failed else 0)


def _window_spec(
    window: float | None, hop: float | None, aggregate: str, per_window: bool
) -> WindowSpec | None:
    if window is None:
        if hop is not None or per_window:
            raise ValueError("--hop and --per-window need --window")
        return None
    if aggregate not in ("mean", "max"):
        raise ValueError("--aggregate is mean or max")
    return WindowSpec(window, hop or window, "mean" if aggregate == "mean" else "max", per_window)


def _function(name: str) -> FunctionChoice:
    if name not in get_args(FunctionChoice):
        raise ValueError("--function is auto, softmax, sigmoid or none")
    return cast(FunctionChoice, name)


def worker(
    concurrency: Annotated[
        int, typer.Option(help="worker processes, each with its own warm model")
    ] = 1,
    queues: Annotated[
        str, typer.Option(help="queues to consume, comma-separated")
    ] = f"{INTERACTIVE_QUEUE},{BULK_QUEUE}",
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "INFO",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="/metrics and /healthz port; 0 = off [EARMARK_METRICS_PORT]"
        ),
    ] = None,
    events: Annotated[
        bool, typer.Option("--events/--without-events", help="send Celery task events")
    ] = True,
) -> None:
    """Run a Celery worker for the configured model (EARMARK_MODEL, EARMARK_DTYPE, ...)."""
    if concurrency < 1:
        raise typer.BadParameter("--concurrency must be at least 1")
    from worker.service.app import create_worker, node_name_for, run_worker
    from worker.service.runtime import tune_malloc

    settings = worker_settings(Settings(), concurrency)
    tune_malloc(settings)  # before any thread: the pool processes inherit it
    if metrics_port is not None:
        settings = settings.model_copy(update={"metrics_port": metrics_port})
    node_name = node_name_for(os.getpid())
    app = create_worker(settings, processes=concurrency, node_name=node_name)
    argv = celery_argv(concurrency, queues, loglevel, node_name, events=events)
    # Non-zero when the worker stopped on an error, so that a supervisor restarts it.
    raise typer.Exit(run_worker(app, argv))


def celery_argv(
    concurrency: int, queues: str, loglevel: str, node_name: str, *, events: bool
) -> list[str]:
    """The ``celery worker`` command line that `earmark worker`'s options make."""
    return [
        "worker",
        f"--concurrency={concurrency}",
        f"--queues={queues}",
        f"--loglevel={loglevel}",
        "--pool=prefork",
        f"--hostname={node_name}",
        "--without-gossip",
        "--without-mingle",
        # Task events for Flower and `celery events` (worker/service/events.py).
        *(["--task-events"] if events else []),
    ]


def worker_settings(settings: Settings, processes: int) -> Settings:
    """`settings` with ONNX Runtime threads divided among `processes` unless they are set."""
    if settings.intra_op_threads:
        return settings
    # Divide the cores so that processes do not fight over them.
    threads = max(1, (os.cpu_count() or 1) // processes)
    return settings.model_copy(update={"intra_op_threads": threads})


def fetch_model(
    model: Annotated[str | None, typer.Option(help="Hub repo id or local folder")] = None,
    revision: Annotated[str | None, typer.Option(help="Hub branch, tag or commit")] = None,
    dtype: Annotated[str | None, typer.Option(help="fp32, q8 or fp16")] = None,
) -> None:
    """Pre-pull the three files a model needs for a dtype into the Hugging Face cache (HF_HOME)."""
    overrides: dict[str, Any] = {"model": model, "model_revision": revision, "dtype": dtype}
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as e:
        raise ConfigError(str(e)) from e
    # The same code path a worker takes, so that a worker started on this cache finds every
    # file it asks for (with HF_HUB_OFFLINE=1 too).
    files = resolve_model(settings.model, revision=settings.model_revision, dtype=settings.dtype)
    folder = files.onnx_path.parent.parent
    names = ["config.json", "preprocessor_config.json", files.onnx_path.relative_to(folder)]
    line = {
        "model": files.model_id,
        "revision": files.revision,
        "dtype": files.dtype,
        "folder": str(folder),
        "files": [str(name) for name in names],
    }
    sys.stdout.write(json.dumps(line) + "\n")


def optimize(
    model: Annotated[str, typer.Argument(help="Hub repo id or local model folder")],
    calibrate: Annotated[
        Path, typer.Option("--calibrate", help="manifest of calibration clips, one ref a line")
    ],
    out: Annotated[
        Path | None, typer.Option(help="write into a copy of the model folder here")
    ] = None,
    quant_format: Annotated[
        str, typer.Option("--format", help="qoperator or qdq")
    ] = StaticQuantization.quant_format,
    convolutions: Annotated[
        bool, typer.Option(help="quantize the convolutional front end too")
    ] = False,
    max_clips: Annotated[int, typer.Option(help="most calibration clips to read")] = 256,
) -> None:
    """Write a static int8 graph (dtype int8) calibrated on a manifest's clips; print its path."""
    if quant_format not in get_args(QuantFormat):
        raise ConfigError("--format is qoperator or qdq")
    if max_clips < 1:
        raise ConfigError("--max-clips must be at least 1")
    settings = Settings()
    # The manifest's own folder is readable too: its author chose the clips it names.
    roots = f"{settings.local_roots}:{calibrate.resolve().parent}"
    options = StaticQuantization(cast(QuantFormat, quant_format), convolutions, max_clips=max_clips)
    target = write_static_int8(
        model,
        calibrate,
        out=out,
        settings=settings.model_copy(update={"local_roots": roots}),
        options=options,
    )
    typer.echo(str(target))
