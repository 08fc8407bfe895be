"""Pipeline hooks (worker/hooks.py): an observer a pipeline is built with sees every clip it
loads and every model call it makes, in process, with the bytes and clips of each."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from producer.settings import Settings
from tests.models import GOLDEN_AUDIO, model_dir
from worker.classification import pipeline
from worker.hooks import NO_HOOKS, PipelineHooks
from worker.inputs import Clip


class Recorder:
    """Hooks that write down what they are told."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # clip_loaded comes from several I/O threads at once
        self.loaded: list[int] = []
        self.made: list[int] = []
        self.calls: list[int] = []
        self.seconds: list[float] = []

    def clip_loaded(self, clip: Clip) -> None:
        with self.lock:
            self.loaded.append(int(clip.waveform.nbytes))

    def features_made(self, waveforms: Sequence[np.ndarray], seconds: float) -> None:
        self.made.append(sum(int(w.nbytes) for w in waveforms))
        self.seconds.append(seconds)

    def model_called(self, clips: int, features_s: float, infer_s: float) -> None:
        self.calls.append(clips)
        self.seconds.extend([features_s, infer_s])


def test_hooks_see_each_load_and_model_call_of_an_in_process_classification() -> None:
    # Given a pipeline built with hooks, golden clips and one reference that does not exist
    recorder = Recorder()
    hooks: PipelineHooks = recorder
    settings = Settings(local_roots=str(GOLDEN_AUDIO))
    classify = pipeline(
        model=str(model_dir("wav2vec2")), dtype="fp32", settings=settings, hooks=hooks
    )
    good = sorted(str(path) for path in GOLDEN_AUDIO.glob("*.wav"))
    assert len(good) >= 3

    # When it classifies them in calls of at most two clips
    records = list(classify.iter_records([*good, str(GOLDEN_AUDIO / "missing.wav")], batch_size=2))

    # Then each clip that decoded was loaded once, with its decoded bytes; the missing one never
    assert [r.status for r in records] == ["ok"] * len(good) + ["error"]
    decoded = [int(classify.loader.load(ref).waveform.nbytes) for ref in good]
    assert sorted(recorder.loaded) == sorted(decoded)
    # and went into exactly one model call: the calls' features took every byte loaded, their
    # clips add up to the clips, none holds more than two, and each call was told once
    assert sum(recorder.made) == sum(decoded)
    assert sum(recorder.calls) == len(good) and max(recorder.calls) <= 2
    assert len(recorder.made) == len(recorder.calls)
    assert all(seconds >= 0 for seconds in recorder.seconds)


def test_a_pipeline_built_without_hooks_has_the_shared_no_op_ones() -> None:
    settings = Settings(local_roots=str(GOLDEN_AUDIO))
    classify = pipeline(model=str(model_dir("wav2vec2")), dtype="fp32", settings=settings)
    assert classify.hooks is NO_HOOKS and classify.classifier.hooks is NO_HOOKS
    assert classify(sorted(str(p) for p in GOLDEN_AUDIO.glob("*.wav"))[0])["label"]
