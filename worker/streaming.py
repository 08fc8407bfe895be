"""Long recordings in bounded memory: a stream of blocks cut into windows, decoded ahead of the
model on a thread, and the windows' scores pooled as they come.

Nothing here holds the whole recording: a window is copied out of a buffer of at most one
window and one block, a few model calls of windows wait in the read-ahead queue, and pooling
keeps one row of scores.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from queue import Empty, Full, Queue
from typing import Any, TypeVar

import numpy as np

from producer.errors import EarmarkError
from producer.records import AudioInfo, ResultRecord, Timings
from producer.refs import parse_ref
from producer.timelines import Timeline, WindowLabels, merge_segments
from producer.windowing import Aggregate, WindowOptions
from worker.audio import StreamedAudio
from worker.audio.decoded import MAX_WINDOWED_SECONDS_SETTING
from worker.fetch import FetcherProtocol
from worker.labeling import Labeler, Prediction, failed, window_summary
from worker.postprocess import to_scores, top_k

T = TypeVar("T")

#: Seconds a read-ahead thread waits on a full queue before it looks whether it should stop.
_POLL_S = 0.1


def stream_recording(
    ref: str,
    fetcher: FetcherProtocol,
    limits: tuple[float, int],
    labeler: Labeler,
    window: WindowOptions,
) -> Prediction:
    """A reference labelled in windows as it streams: fetched a chunk at a time, decoded by the
    one decoder, cut on a read-ahead thread ahead of the model; `limits` are its seconds and
    bytes caps (EARMARK_MAX_WINDOWED_SECONDS and _BYTES)."""
    seconds, size_bytes = limits
    try:
        chunks = fetcher.stream(parse_ref(ref), size_bytes)
    except EarmarkError as e:
        return failed(ref, labeler.model, e)
    rate = labeler.classifier.sampling_rate
    audio = StreamedAudio(chunks, rate, seconds, MAX_WINDOWED_SECONDS_SETTING)
    size, hop = max(1, round(window.window_s * rate)), max(1, round(window.hop * rate))
    windows = read_ahead(cut_windows(audio.blocks(), size, hop), 2 * labeler.max_batch)
    return label_recording(labeler, ref, windows, window, audio.info)


def cut_windows(
    blocks: Iterable[np.ndarray], size: int, hop: int
) -> Iterator[tuple[int, np.ndarray]]:
    """(start sample, samples) of every window of `size` samples every `hop`, as
    `WindowOptions.bounds` cuts the whole clip: the last window aligned to the end, and a
    stream shorter than one window one window of it all."""
    buffer, offset = np.empty(0, np.float32), 0  # offset: the stream's index of buffer[0]
    start, end = 0, 0  # the next window's start; the end of the last one cut
    for block in blocks:
        buffer = np.concatenate([buffer, block])
        while start + size <= offset + len(buffer):
            yield start, buffer[start - offset : start - offset + size].copy()
            end, start = start + size, start + hop
        # Kept: what the next window needs, and the last `size` samples for the aligned one.
        keep = min(start, offset + len(buffer) - size)
        if keep > offset:
            buffer, offset = buffer[keep - offset :], keep
    total = offset + len(buffer)
    if end == 0 and total:
        yield 0, buffer
    elif 0 < end < total:
        yield total - size, buffer[-size:].copy()


def read_ahead(items: Iterator[T], depth: int) -> Iterator[T]:
    """`items`, produced on a thread up to `depth` ahead of the consumer; what the producer
    raises is raised here, in turn. Stopping early (an error, a close) stops the thread at its
    next item and closes `items` there."""
    queue: Queue[tuple[bool, Any]] = Queue(depth)
    stop = threading.Event()
    thread = threading.Thread(
        target=_produce, args=(items, queue, stop), name="earmark-read-ahead", daemon=True
    )
    thread.start()
    try:
        while True:
            done, value = queue.get()
            if done:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(Empty):
                queue.get(timeout=_POLL_S)


def _produce(items: Iterator[Any], queue: Queue[tuple[bool, Any]], stop: threading.Event) -> None:
    try:
        for item in items:
            if not _put(queue, (False, item), stop):
                return
        _put(queue, (True, None), stop)
    except BaseException as e:  # handed to the consumer, whatever it is
        _put(queue, (True, e), stop)
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


def _put(queue: Queue[tuple[bool, Any]], entry: tuple[bool, Any], stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            queue.put(entry, timeout=_POLL_S)
            return True
        except Full:
            continue
    return False


def label_recording(
labeler: Labeler, text: str, windows: Iterator[tuple[int, np.ndarray]], window: WindowOptions,
    source: Callable[[], tuple[int, int, float]],
) -> Prediction:  # fmt: skip
    """A long recording's prediction, its windows taken from a stream a model call at a
    time and pooled as they come (`worker.streaming`); `source` gives the source's rate,
    channels and length once the stream has ended."""
    run = _StreamRun(labeler, window)
    try:
        for batch in _batches(windows, _per_call(labeler, window), run):
            run.label(batch)
        rate, channels, duration = source()
    except EarmarkError as e:
        return failed(text, labeler.model, e)
    labels = top_k(run.pool.result(), labeler.classifier.labels, labeler.options.top_k)
    timeline = None
    if run.windows is not None:
        segments = merge_segments(run.windows, window.threshold)
        timeline = Timeline(windows=run.windows, segments=segments)
    audio = AudioInfo(
        duration_s=round(duration, 6), sample_rate=rate, channels=channels,
        truncated=run.truncated, decoder="reference",
    )  # fmt: skip
    record = ResultRecord(
        input=text, status="ok", labels=labels, model=labeler.model, audio=audio,
        windows=window_summary(window, run.pool.count, timeline),
        timings=Timings(decode_s=run.waited_s, infer_s=run.infer_s),
    )  # fmt: skip
    return Prediction(record, None, timeline)


class _StreamRun:
    """What a streamed recording has given so far: pooled scores, the timeline's windows, the
    model's and the stream's seconds."""

    def __init__(self, labeler: Labeler, window: WindowOptions) -> None:
        self.labeler = labeler
        self.window = window
        self.pool = RunningPool(window.aggregate)
        self.windows: list[WindowLabels] | None = [] if window.timeline else None
        self.truncated = False
        self.infer_s = 0.0
        #: Seconds the model waited on the stream (fetch and decode not hidden behind it).
        self.waited_s = 0.0

    def label(self, batch: list[tuple[int, np.ndarray]]) -> None:
        """One model call's windows: scored, pooled and kept for the timeline."""
        labeler = self.labeler
        refusal = labeler.refusal(self.window, self.pool.count + len(batch))
        if refusal is not None:
            raise refusal
        samples = [window for _, window in batch]
        inferences = labeler.classifier.infer(samples, labeler.max_batch, labeler.max_samples)
        error = next((i.error for i in inferences if i.error is not None), None)
        if error is not None:
            raise error
        self.infer_s += sum({i.call: i.seconds for i in inferences}.values())
        logits = np.stack([i.logits for i in inferences if i.logits is not None])
        scores = to_scores(logits, labeler.function)
        self.pool.add(scores)
        extractor = labeler.classifier.extractor
        self.truncated |= any(extractor.truncated(len(window)) for window in samples)
        if self.windows is not None:
            rate, names = labeler.classifier.sampling_rate, labeler.classifier.labels
            self.windows += [
                WindowLabels(
                    start_s=start / rate,
                    end_s=(start + len(window)) / rate,
                    labels=top_k(row, names, labeler.options.top_k),
                )
                for (start, window), row in zip(batch, scores, strict=True)
            ]


def _per_call(labeler: Labeler, window: WindowOptions) -> int:
    """Windows one model call holds: EARMARK_MAX_BATCH, or fewer where that many would pass
    EARMARK_MAX_BATCH_SECONDS (taken more, the call would split: 16 one-second windows under
    12 s, a call of 12 and one of 4)."""
    if labeler.max_samples is None:
        return labeler.max_batch
    size = max(1, round(window.window_s * labeler.classifier.sampling_rate))
    return max(1, min(labeler.max_batch, labeler.max_samples // size))


def _batches(
    windows: Iterator[tuple[int, np.ndarray]], size: int, run: _StreamRun
) -> Iterator[list[tuple[int, np.ndarray]]]:
    """Windows in groups of `size` (one model call each), timing the waits on the stream."""
    while True:
        started = time.perf_counter()
        batch = list(islice(windows, size))
        run.waited_s += time.perf_counter() - started
        if not batch:
            return
        yield batch


class RunningPool:
    """The mean or max of score rows seen so far, one row kept whatever their number."""

    def __init__(self, aggregate: Aggregate) -> None:
        self.aggregate = aggregate
        self.count = 0
        self._row: np.ndarray | None = None

    def add(self, scores: np.ndarray) -> None:
        """Take rows of shape (windows, labels)."""
        part = scores.sum(axis=0) if self.aggregate == "mean" else scores.max(axis=0)
        if self._row is None:
            self._row = np.asarray(part, np.float64)
        elif self.aggregate == "mean":
            self._row = self._row + part
        else:
            self._row = np.maximum(self._row, part)
        self.count += len(scores)

    def result(self) -> np.ndarray:
        """The pooled row (the mean divides by every row seen)."""
        if self._row is None:
            raise ValueError("no scores were pooled")
        return self._row / self.count if self.aggregate == "mean" else self._row
