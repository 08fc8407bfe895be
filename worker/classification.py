"""The in-process audio-classification pipeline, shaped like the Hugging Face one."""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from producer.errors import EarmarkError
from producer.records import ModelInfo, ResultRecord
from producer.redact import redact, redact_ref
from producer.settings import Dtype, Settings
from producer.windowing import WindowOptions
from worker.classifier import Classifier
from worker.fetch import Fetcher, FetcherProtocol, FetchLimits
from worker.hooks import NO_HOOKS, PipelineHooks
from worker.hub import resolve_model
from worker.inputs import AudioInput, Clip, ClipLoader, describe
from worker.labeling import Labeler, LabelOptions, Prediction, failed
from worker.loading import load_ahead
from worker.model import SessionOptions
from worker.postprocess import FunctionChoice
from worker.retry import fetch_retry
from worker.streaming import stream_recording

log = logging.getLogger(__name__)

#: Inputs loaded ahead of the model per clip a call may hold: enough to fill calls, bounded in
#: memory.
_LOAD_AHEAD = 4
#: Inputs fetched and decoded at once, while the model runs: one per core (two at least), since
#: each decode's buffers add to the model call's peak memory (`python -m bench.memory`; the
#: figures are in bench/README.md).
_LOAD_THREADS = min(8, max(2, os.cpu_count() or 1))


@dataclass(frozen=True)
class _Loaded:
    """One input after preprocessing: the text its record shows, and its clip or its error."""

    text: str
    result: Clip | EarmarkError
    #: Whether the input is a reference (which windows would stream), not raw audio.
    reference: bool = False


class AudioClassificationPipeline:
    """Classify audio inputs with one warm model; call it like ``transformers.pipeline``."""

    def __init__(
        self,
        classifier: Classifier,
        fetcher: FetcherProtocol,
        *,
        settings: Settings,
        top_k: int | None = None,
        function_to_apply: FunctionChoice = "auto",
        hooks: PipelineHooks = NO_HOOKS,
    ) -> None:
        self.classifier = classifier
        self.settings = settings
        #: Told of every clip loaded (worker/hooks.py); the classifier tells its own of calls.
        self.hooks = hooks
        self.defaults = LabelOptions(
            top_k=settings.top_k if top_k is None else top_k, function=function_to_apply
        )
        self.loader = ClipLoader(
            fetcher,
            classifier.sampling_rate,
            settings.max_bytes,
            settings.max_seconds,
            fetch_timeout_s=settings.fetch_timeout_s,
            retry=fetch_retry(settings),
        )
        files = classifier.files
        self.model_info = ModelInfo(id=files.model_id, revision=files.revision, dtype=files.dtype)

    def __call__(
        self,
        inputs: AudioInput | Sequence[AudioInput],
        *,
        top_k: int | None = None,
        function_to_apply: FunctionChoice | None = None,
        batch_size: int | None = None,
    ) -> Any:
        """Labels for one input or a list, in the reference's shapes.

        One input with ``top_k=1`` gives ``{"label", "score"}``; a larger ``top_k`` gives a list of
        them; a list of inputs gives one such entry per input. A failed input raises its error
        when alone and stands as ``{"error": {"code", "message"}}`` in a list.
        """
        single = not isinstance(inputs, list | tuple)
        items = cast(list[AudioInput], [inputs] if single else list(inputs))
        options = self._options(top_k, function_to_apply)
        predictions = list(self.iter_predictions(items, options=options, batch_size=batch_size))
        if single and predictions[0].error is not None:
            raise predictions[0].error
        shaped = [_shape(prediction.record, options.top_k) for prediction in predictions]
        return shaped[0] if single else shaped

    def iter_records(
        self,
        items: Iterable[AudioInput],
        *,
        options: LabelOptions | None = None,
        batch_size: int | None = None,
        window: WindowOptions | None = None,
    ) -> Iterator[ResultRecord]:
        """One result record per input, in input order, loading a bounded number ahead."""
        predictions = self.iter_predictions(
            items, options=options, batch_size=batch_size, window=window
        )
        for prediction in predictions:
            yield prediction.record

    def iter_predictions(
        self,
        items: Iterable[AudioInput],
        *,
        options: LabelOptions | None = None,
        batch_size: int | None = None,
        window: WindowOptions | None = None,
    ) -> Iterator[Prediction]:
        """One prediction per input (its record, error and timeline), in input order: inputs
        preprocessed ahead on I/O threads within count and byte bounds
        (``EARMARK_MAX_INFLIGHT_BYTES`` of decoded audio), then labeled a group at a time
        (forward, postprocess)."""
        max_batch = batch_size or self.settings.max_batch
        budget = round(self.settings.max_batch_seconds * self.classifier.sampling_rate)
        labeler = Labeler(
            self.classifier,
            options or self.defaults,
            window,
            max_batch,
            budget,
            model=self.model_info,
            auto_windows=self.settings.windows == "auto",
        )
        if window is not None:  # recordings of any length: one at a time, streamed
            for item in items:
                yield self._label_windowed(item, labeler, window)
            return
        for group in load_ahead(
            items,
            self._preprocess,
            _held_bytes,
            max_items=max_batch * _LOAD_AHEAD,
            max_bytes=self.settings.max_inflight_bytes,
            threads=_LOAD_THREADS,
        ):
            yield from self._label(group, labeler)

    def _options(self, top_k: int | None, function: FunctionChoice | None) -> LabelOptions:
        return LabelOptions(
            top_k=self.defaults.top_k if top_k is None else top_k,
            function=function or self.defaults.function,
        )

    def _preprocess(self, item: AudioInput) -> _Loaded:
        """The input fetched and decoded (on an I/O thread), or why it could not be."""
        text, reference = describe(item), isinstance(item, str)
        try:
            clip = self.loader.load(item)
        except EarmarkError as e:
            return _Loaded(text, e, reference)
        except Exception as e:  # a bug or an unmapped error: this input fails, never its group
            return _Loaded(text, _internal(item, e))
        self.hooks.clip_loaded(clip)
        return _Loaded(text, clip)

    def _label_windowed(
        self, item: AudioInput, labeler: Labeler, window: WindowOptions
    ) -> Prediction:
        """One input in windows: a reference streamed (`worker.streaming`); raw audio, already
        in memory, loaded whole."""
        if not isinstance(item, str):
            return next(self._label([self._preprocess(item)], labeler))
        limits = (self.settings.max_windowed_seconds, self.settings.max_windowed_bytes)
        return stream_recording(item, self.loader.fetcher, limits, labeler, window)

    def _label(self, group: list[_Loaded], labeler: Labeler) -> Iterator[Prediction]:
        clips = [(entry.text, entry.result) for entry in group if isinstance(entry.result, Clip)]
        labeled = iter(labeler.label(clips))
        for entry in group:
            if isinstance(entry.result, Clip):
                yield next(labeled)
            else:
                # A reference refused whole could stream in windows: its record says how.
                whole = labeler.window is None and entry.reference
                yield failed(entry.text, self.model_info, entry.result, whole=whole)


def _held_bytes(loaded: _Loaded) -> int:
    """The decoded audio a loaded input holds until it is labeled."""
    return int(loaded.result.waveform.nbytes) if isinstance(loaded.result, Clip) else 0


def pipeline(
    task: str = "audio-classification",
    model: str | None = None,
    *,
    dtype: Dtype | None = None,
    revision: str | None = None,
    settings: Settings | None = None,
    session: SessionOptions | None = None,
    top_k: int | None = None,
    function_to_apply: FunctionChoice = "auto",
    hooks: PipelineHooks = NO_HOOKS,
) -> AudioClassificationPipeline:
    """Build a warm pipeline: ``pipeline("audio-classification", "Xenova/…", dtype="q8")``;
    `hooks` are told of its loads and model calls as they happen."""
    if task != "audio-classification":
        raise ValueError(f"earmark runs audio-classification only, not {task!r}")
    started = time.perf_counter()
    settings = settings or Settings()
    files = resolve_model(
        model or settings.model,
        revision=revision or settings.model_revision,
        dtype=dtype or settings.dtype,
        setting=None if model else "EARMARK_MODEL",
    )
    session = session or _session_options(settings)
    classifier = Classifier(files, session, settings.batching, settings.max_call_mb, hooks)
    _log_ready(classifier, started)
    return AudioClassificationPipeline(
        classifier,
        _fetcher(settings),
        settings=settings,
        top_k=top_k,
        function_to_apply=function_to_apply,
        hooks=hooks,
    )


def _fetcher(settings: Settings) -> Fetcher:
    """The one edge to the world, with the settings' roots, address rule, caps and timeouts."""
    return Fetcher(
        FetchLimits(
            local_roots=settings.local_root_list,
            allow_private_urls=settings.url_allow_private,
            max_bytes=settings.max_bytes,
            connect_timeout_s=settings.fetch_connect_timeout_s,
            read_timeout_s=settings.fetch_read_timeout_s,
            total_timeout_s=settings.fetch_timeout_s,
        )
    )


def _session_options(settings: Settings) -> SessionOptions:
    """ONNX Runtime's options as the settings give them."""
    return SessionOptions(
        providers=settings.provider_list,
        intra_op_threads=settings.intra_op_threads,
        memory_arena=settings.memory_arena,
        provider_fallback=settings.provider_fallback,
    )


def _log_ready(classifier: Classifier, started: float) -> None:
    """One line once the model is warm: what runs, where, how it batches, the longest clip."""
    files = classifier.files
    log.info(
        "earmark: model %s (%s) ready in %.2f s (session %.2f s) on %s, batching %s, %s",
        files.model_id,
        files.dtype,
        time.perf_counter() - started,
        classifier.model.load_s,
        ",".join(classifier.model.providers),
        classifier.mode.value,
        _longest_clip(classifier.call_bound.longest_seconds),
    )


def _internal(item: AudioInput, e: Exception) -> EarmarkError:
    """An unexpected error while loading `item`, logged with its traceback, as code "internal"."""
    shown = redact_ref(describe(item))
    # Redacted here, not only by a handler's RedactingFilter: in process (earmark classify, a
    # notebook) no such filter need be installed, and the exception's text may quote the input.
    trace = redact("".join(traceback.format_exception(e)))
    log.error("%s: unexpected %s while loading\n%s", shown, type(e).__name__, trace.rstrip())
    # Only the type: the text may quote a password in a form the redactor cannot recognise
    # (urlsplit's "invalid port 'pa'" for http://u:pa/ss@h); the log has the rest.
    error = EarmarkError(f"unexpected {type(e).__name__} while loading this input; see the log")
    error.__cause__ = e  # as `raise … from e` chains it
    return error


def _shape(record: ResultRecord, top_k: int) -> Any:
    if record.error is not None:
        return {"error": record.error.model_dump()}
    labels = [label.model_dump() for label in record.labels or []]
    return labels[0] if top_k == 1 and labels else labels


def _longest_clip(seconds: float | None) -> str:
    return "clips of any length" if seconds is None else f"clips up to {seconds:.1f} s a call"
