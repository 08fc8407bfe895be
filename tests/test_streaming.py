"""Streaming a long recording: windows cut from blocks as from the whole clip, the decode of a
stream bit for bit the decode of the whole file, typed refusals mid-stream, and a read-ahead
thread that hands errors over and stops when told."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from producer.errors import DecodeFailed, TooLarge, UnsupportedFormat
from producer.windowing import WindowOptions
from worker.audio import StreamedAudio, decode_file
from worker.fetch import Fetcher, FetchLimits
from worker.streaming import RunningPool, cut_windows, read_ahead
from worker.windows import pool


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 5_000),
    size=st.integers(1, 700),
    share=st.floats(0.01, 1.0),
    block=st.integers(1, 900),
)
def test_windows_cut_from_blocks_are_the_windows_of_the_whole_clip(
    n: int, size: int, share: float, block: int
) -> None:
    """Whatever the block size: the same starts as WindowOptions.bounds, the same samples."""
    hop = max(1, round(size * share))
    clip = np.arange(n, dtype=np.float32)
    blocks = (clip[i : i + block] for i in range(0, n, block))
    cut = list(cut_windows(blocks, size, hop))
    window = WindowOptions(window_s=size / 100, hop_s=hop / 100)  # at 100 Hz: 1 sample is 10 ms
    bounds = window.bounds(n, 100)
    assert [(start, start + len(samples)) for start, samples in cut] == bounds
    for start, samples in cut:
        np.testing.assert_array_equal(samples, clip[start : start + len(samples)])


def test_a_running_pool_is_the_pool_of_every_row() -> None:
    rng = np.random.default_rng(1)
    rows = rng.random((50, 12))
    for aggregate in ("mean", "max"):
        running = RunningPool(aggregate)
        for part in np.array_split(rows, 7):
            running.add(part)
        np.testing.assert_allclose(running.result(), pool(rows, aggregate), rtol=1e-12)
        assert running.count == 50


def _encoded(fmt: str, seconds: float = 20.0, rate: int = 48_000) -> bytes:
    """Stereo noise and a tone, as WAV, FLAC, MP3 or Ogg/Opus."""
    rng = np.random.default_rng(7)
    frames = int(seconds * rate)
    tone = 0.3 * np.sin(np.arange(frames) * 2 * np.pi * 440 / rate)
    audio = np.stack([tone, 0.1 * rng.standard_normal(frames)], axis=1).astype(np.float32)
    buffer = io.BytesIO()
    if fmt in ("WAV", "FLAC"):
        sf.write(buffer, audio, rate, format=fmt, subtype="PCM_16")
        return buffer.getvalue()
    codec = {"mp3": "mp3", "ogg": "libopus"}[fmt]
    with av.open(buffer, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout="stereo")
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(audio.T), format="fltp", layout="stereo"
        )
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:  # type: ignore[union-attr,arg-type]
            container.mux(packet)
    return buffer.getvalue()


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "mp3", "ogg"])
@pytest.mark.parametrize("chunk", [1_000, 65_536])
def test_a_streamed_file_decodes_to_the_whole_files_samples_bit_for_bit(
    fmt: str, chunk: int
) -> None:
    """48 kHz stereo to 16 kHz mono: the resampler's state carries across every chunk, so the
    stream gives exactly the samples the whole file gives."""
    data = _encoded(fmt)
    whole = decode_file(data, target_rate=16_000, max_seconds=600)
    streamed = StreamedAudio(_chunks(data, chunk), 16_000, 600, "EARMARK_MAX_WINDOWED_SECONDS")
    samples = np.concatenate(list(streamed.blocks()))
    np.testing.assert_array_equal(samples, whole.waveform)
    rate, channels, duration = streamed.info()
    assert (rate, channels) == (whole.sample_rate, whole.channels) == (48_000, 2)
    assert duration == pytest.approx(whole.duration_s)


def test_a_stream_past_its_duration_cap_is_too_large_naming_the_windowed_setting() -> None:
    streamed = StreamedAudio(
        _chunks(_encoded("FLAC"), 4096), 16_000, 5.0, "EARMARK_MAX_WINDOWED_SECONDS"
    )
    with pytest.raises(TooLarge, match="EARMARK_MAX_WINDOWED_SECONDS"):
        list(streamed.blocks())


@pytest.mark.parametrize(
    ("data", "error"),
    [(b"", DecodeFailed), (b"not audio at all, not at all", UnsupportedFormat)],
)
def test_a_stream_that_is_no_audio_is_refused_typed(data: bytes, error: type) -> None:
    with pytest.raises(error):
        list(StreamedAudio(iter([data]), 16_000, 60, "X").blocks())


def test_a_local_stream_past_its_byte_cap_is_too_large_and_the_file_is_let_go(
    tmp_path: Path,
) -> None:
    """The cap of a windowed job's input is EARMARK_MAX_WINDOWED_BYTES, checked as it reads."""
    from producer.refs import parse_ref

    path = tmp_path / "long.flac"
    path.write_bytes(_encoded("FLAC"))
    fetcher = Fetcher(FetchLimits(local_roots=(str(tmp_path),)))
    streamed = StreamedAudio(fetcher.stream(parse_ref(str(path)), 10_000), 16_000, 600, "X")
    with pytest.raises(TooLarge, match="EARMARK_MAX_WINDOWED_BYTES"):
        list(streamed.blocks())
    chunks = fetcher.stream(parse_ref(str(path)), 10**9)
    assert len(b"".join(chunks)) == path.stat().st_size


def test_read_ahead_hands_over_the_producers_error_in_turn() -> None:
    def items() -> Iterator[int]:
        yield from range(5)
        raise TooLarge("past the cap")

    got = []
    with pytest.raises(TooLarge, match="past the cap"):
        for item in read_ahead(items(), 2):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_read_ahead_stops_its_thread_and_closes_the_source_when_the_consumer_stops() -> None:
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    ahead = read_ahead(endless(), 4)
    assert [next(ahead) for _ in range(3)] == [0, 1, 2]
    ahead.close()  # type: ignore[attr-defined]
    assert closed.wait(5.0)
    time.sleep(0.2)
    assert not [t for t in threading.enumerate() if t.name == "earmark-read-ahead"]


class _Calls:
    """Pipeline hooks that keep the number of clips in each model call."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def clip_loaded(self, clip: object) -> None:
        pass

    def features_made(self, waveforms: object, seconds: float) -> None:
        pass

    def model_called(self, clips: int, features_s: float, infer_s: float) -> None:
        self.sizes.append(clips)


def test_a_streamed_recordings_windows_fill_each_call_to_the_seconds_budget(
    tmp_path: Path,
) -> None:
    """Given 40 one-second windows under the defaults (16 a call, 12 s of audio a call): the
    stream is taken 12 windows at a time, so calls hold 12, 12, 12 and 4, never 12 and a
    leftover 4 for every 16 taken."""
    from producer.settings import Settings
    from tests.models import model_dir
    from worker.classification import pipeline

    path = tmp_path / "long.wav"
    sf.write(path, 0.1 * np.random.default_rng(1).standard_normal(40 * 16_000), 16_000)
    calls = _Calls()
    settings = Settings(local_roots=str(tmp_path), max_batch=16, max_batch_seconds=12.0)
    model = str(model_dir("wav2vec2"))
    pipe = pipeline(model=model, dtype="fp32", settings=settings, hooks=calls)
    (record,) = pipe.iter_records([str(path)], window=WindowOptions(window_s=1.0))
    assert record.status == "ok" and record.windows is not None and record.windows.count == 40
    assert calls.sizes == [12, 12, 12, 4]
