"""Worker-side commands: ``earmark classify`` (in-process, no queue), ``earmark worker``,
``earmark fetch-model``, ``earmark optimize`` and ``earmark doctor``."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from producer.cli import options
from producer.errors import ConfigError
from producer.messages import BULK_QUEUE, INTERACTIVE_QUEUE
from producer.settings import Batching, Dtype, Settings
from producer.timelines import Timeline
from producer.windowing import window_options
from worker.classification import pipeline
from worker.hub import resolve_model
from worker.labeling import LabelOptions, Prediction
from worker.optimize import QuantFormat, StaticQuantization
from worker.optimize import optimize as write_static_int8
from worker.postprocess import FunctionChoice

#: ``--dtype``'s help; its choices are `producer.settings.Dtype`'s, listed by Typer.
_DTYPE_HELP = "which ONNX graph of the model: onnx/model.onnx, _quantized, _fp16, _int8_static"


#: Flags named otherwise than the setting they override.
_FLAGS = {"max_batch": "--batch-size", "model_revision": "--revision"}


def _settings(**flags: Any) -> Settings:
    """Settings from the environment, the flags given (not None) overriding it; ConfigError
    (exit 2, one line naming the flag and the variable, no pydantic URL) for a refused value."""
    try:
        return Settings(**{name: value for name, value in flags.items() if value is not None})
    except ValidationError as e:
        problems = e.errors(include_input=False, include_url=False)
        raise ConfigError("; ".join(_problem(p["loc"], p["msg"]) for p in problems)) from e


def _problem(loc: tuple[int | str, ...], message: str) -> str:
    field = str(loc[0]) if loc else ""
    if not field:
        return message
    flag = _FLAGS.get(field, "--" + field.replace("_", "-"))
    return f"{flag} (EARMARK_{field.upper()}): {message}"


def classify(
    refs: Annotated[list[str], typer.Argument(help="Audio references: paths, s3://, http(s)://")],
    model: Annotated[str | None, typer.Option(help="Hub repo id or local folder")] = None,
    dtype: Annotated[Dtype | None, typer.Option(help=_DTYPE_HELP)] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", help="labels per input; 0 = all")] = None,
    batch_size: Annotated[int | None, typer.Option(help="most clips in one model call")] = None,
    function: Annotated[
        FunctionChoice, typer.Option("--function", help="scores from logits; auto: the config's")
    ] = "auto",
    window: options.Window = None,
    hop: options.Hop = None,
    aggregate: options.Pooling = None,
    timeline: options.ClassifyTimeline = False,
    threshold: options.Threshold = None,
    batching: Annotated[
        Batching | None,
        typer.Option(help="exact, or padded: near lengths share calls (scores move)"),
    ] = None,
) -> None:
    """Classify references in this process and print one JSON line each, in input order."""
    settings = _settings(
        model=model, dtype=dtype, top_k=top_k, max_batch=batch_size, batching=batching
    )
    try:
        spec = window_options(window, hop, aggregate, timeline, threshold)
        wanted = LabelOptions(top_k=settings.top_k, function=function)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    # A model that cannot load is a usage error too, naming EARMARK_MODEL unless --model gave it.
    predictions = pipeline(model=model, settings=settings).iter_predictions(
        refs, options=wanted, window=spec
    )
    raise typer.Exit(1 if _print_predictions(predictions) else 0)


def _print_predictions(predictions: Iterator[Prediction]) -> bool:
    """One JSON line per prediction, as each comes; True if any failed."""
    failed = False
    for prediction in predictions:
        failed |= prediction.record.status != "ok"
        sys.stdout.write(_line(prediction.record.to_json(), prediction.timeline) + "\n")
        sys.stdout.flush()
    return failed


def _line(record: str, timeline: Timeline | None) -> str:
    """The record's JSON line; with a timeline, the timeline inline (``"timeline"``)."""
    if timeline is None:
        return record
    inline = {**json.loads(record), "timeline": timeline.model_dump()}
    return json.dumps(inline, separators=(",", ":"), ensure_ascii=False)


def worker(
    model: Annotated[
        str | None, typer.Option(help="Hub repo id or local folder [EARMARK_MODEL]")
    ] = None,
    dtype: Annotated[Dtype | None, typer.Option(help=f"{_DTYPE_HELP} [EARMARK_DTYPE]")] = None,
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
    """Run a Celery worker for the configured model (EARMARK_MODEL, EARMARK_DTYPE, ...; the
    flags override them)."""
    if concurrency < 1:
        raise typer.BadParameter("--concurrency must be at least 1")
    from worker.service.app import create_worker, node_name_for, run_worker
    from worker.service.runtime import tune_malloc

    settings = worker_settings(_settings(model=model, dtype=dtype), concurrency)
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
    dtype: Annotated[Dtype | None, typer.Option(help=_DTYPE_HELP)] = None,
) -> None:
    """Pre-pull the three files a model needs for a dtype into the Hugging Face cache (HF_HOME)."""
    settings = _settings(model=model, model_revision=revision, dtype=dtype)
    # The same code path a worker takes, so that a worker started on this cache finds every
    # file it asks for (with HF_HUB_OFFLINE=1 too).
    files = resolve_model(
        settings.model,
        revision=settings.model_revision,
        dtype=settings.dtype,
        setting=None if model else "EARMARK_MODEL",
    )
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
        QuantFormat, typer.Option("--format", help="how the int8 graph is written")
    ] = StaticQuantization.quant_format,
    convolutions: Annotated[
        bool, typer.Option(help="quantize the convolutional front end too")
    ] = False,
    max_clips: Annotated[int, typer.Option(help="most calibration clips to read")] = 256,
) -> None:
    """Write a static int8 graph (dtype int8) calibrated on a manifest's clips; print its path."""
    if max_clips < 1:
        raise ConfigError("--max-clips must be at least 1")
    settings = Settings()
    # The manifest's own folder is readable too: its author chose the clips it names.
    roots = f"{settings.local_roots}:{calibrate.resolve().parent}"
    options = StaticQuantization(quant_format, convolutions, max_clips=max_clips)
    target = write_static_int8(
        model,
        calibrate,
        out=out,
        settings=settings.model_copy(update={"local_roots": roots}),
        options=options,
    )
    typer.echo(str(target))


def doctor(
    expect_jobs_per_day: Annotated[
        int | None,
        typer.Option(min=1, help="jobs a day the results Redis must hold for EARMARK_RESULT_TTL_S"),
    ] = None,
) -> None:
    """Check this deployment from its settings, one finding a line (ok, note, wrong,
    unreachable); exit 0 when all is well, 1 when something is wrong, 3 when a service is
    unreachable."""
    from worker.service.doctor import examine, exit_code

    findings = []
    for finding in examine(Settings(), expect_jobs_per_day):
        findings.append(finding)
        sys.stdout.write(finding.line() + "\n")
        sys.stdout.flush()
    raise typer.Exit(exit_code(findings))
