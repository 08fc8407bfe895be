"""Execution providers, I/O binding and fp16 graphs, on the CPU plumbing CI has (no GPU here)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from bench import gpu
from producer.errors import ConfigError
from tests.models import DATA, GOLDEN_AUDIO, model_dir
from tests.workers import run_earmark
from worker.classifier import Classifier
from worker.hub import resolve_model
from worker.model import OnnxModel, SessionOptions
from worker.postprocess import to_scores
from worker.providers import choose_providers, device_of

#: A provider every CI machine lacks: CPU-only onnxruntime has no CUDA.
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
#: fp16 copies of test models, made by scripts/make_fp16_models.py.
FP16 = DATA / "fp16"
#: Largest softmax score gap between the fp16 and fp32 graphs on the golden clips (measured
#: 1.4e-3 on wav2vec2, 1.0e-3 on wav2vec2-masked).
FP16_ATOL = 5e-3


def _clips() -> list[np.ndarray]:
    """The golden clips up to 1.5 s (padded calls of longer ones only cost time)."""
    import soundfile as sf

    clips = [sf.read(path, dtype="float32")[0] for path in sorted(GOLDEN_AUDIO.glob("*.wav"))]
    return [clip for clip in clips if len(clip) <= 24_000]


#: One ONNX Runtime thread: spinning pools of threads crawl on a shared, busy CI machine.
ONE = SessionOptions(intra_op_threads=1)


def _fp32(name: str = "wav2vec2") -> Path:
    return model_dir(name)


def test_a_missing_provider_is_a_config_error_naming_it() -> None:
    files = resolve_model(str(_fp32()), dtype="fp32")
    with pytest.raises(ConfigError, match=rf"asks for {CUDA}.*EARMARK_PROVIDER_FALLBACK"):
        OnnxModel(files, SessionOptions(providers=(CUDA, CPU), intra_op_threads=1))


def test_a_missing_provider_falls_back_to_cpu_with_a_warning_when_allowed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = resolve_model(str(_fp32()), dtype="fp32")
    with caplog.at_level(logging.WARNING, logger="worker.providers"):
        model = OnnxModel(files, SessionOptions((CUDA,), 1, provider_fallback=True))
    assert model.providers == (CPU,)
    assert f"lacks {CUDA}; falling back to {CPU}" in caplog.text


def test_choosing_providers_keeps_order_and_names_what_is_missing() -> None:
    assert choose_providers([CUDA, CPU], [CPU, CUDA], fallback=False, where="x") == (CUDA, CPU)
    assert choose_providers(["A", CPU], [CPU], fallback=True, where="x") == (CPU,)
    with pytest.raises(ConfigError, match="asks for A, B, which x lacks"):
        choose_providers(["A", "B", CPU], [CPU], fallback=False, where="x")
    assert (device_of([CUDA, CPU]), device_of([CPU]), device_of([])) == ("cuda", "cpu", "cpu")


def test_classify_with_a_missing_provider_exits_2(tmp_path: Path) -> None:
    env = {"EARMARK_PROVIDERS": f"{CUDA},{CPU}", "EARMARK_LOCAL_ROOTS": str(GOLDEN_AUDIO)}
    clip = str(sorted(GOLDEN_AUDIO.glob("*.wav"))[0])
    args = ("classify", clip, "--model", str(_fp32()), "--dtype", "fp32")
    refused = run_earmark(env, *args)
    assert refused.returncode == 2, refused.stderr
    assert CUDA in refused.stderr and "Traceback" not in refused.stderr
    fallen_back = run_earmark({**env, "EARMARK_PROVIDER_FALLBACK": "true"}, *args)
    assert fallen_back.returncode == 0, fallen_back.stderr
    assert json.loads(fallen_back.stdout)["status"] == "ok"


@pytest.mark.parametrize(("name", "dtype"), [("wav2vec2", "fp32"), ("wav2vec2-masked", "q8")])
def test_io_binding_gives_the_scores_of_a_plain_run(name: str, dtype: str) -> None:
    """Given the same batch, the bound inputs and outputs give bit-identical logits."""
    files = resolve_model(str(_fp32(name)), dtype=dtype)  # type: ignore[arg-type]
    plain = Classifier(files, SessionOptions(intra_op_threads=1, io_binding=False))
    bound = Classifier(files, SessionOptions(intra_op_threads=1, io_binding=True))
    clips = _clips()[:4]
    features = plain.extractor(clips)
    np.testing.assert_array_equal(bound.model.run(features), plain.model.run(features))


@pytest.mark.parametrize("name", ["wav2vec2", "wav2vec2-masked"])
def test_fp16_graph_is_fed_float16_and_scores_like_fp32(name: str) -> None:
    fp16 = Classifier(resolve_model(str(FP16 / name), dtype="fp16"), ONE)
    fp32 = Classifier(resolve_model(str(_fp32(name)), dtype="fp32"), ONE)
    assert fp16.model._input_types["input_values"] == "tensor(float16)"
    clips = _clips()
    logits = [np.stack([i.logits for i in m.infer(clips, 16)]) for m in (fp16, fp32)]  # type: ignore[misc]
    half, full = (to_scores(x, "softmax") for x in logits)
    assert 0 < np.abs(half - full).max() <= FP16_ATOL  # a real fp16 graph: close, not equal
    assert (half.argmax(axis=1) == full.argmax(axis=1)).all()


def test_the_gpu_bench_runs_on_cpu_and_computes_its_ratios(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--providers", CPU, "--quick", "--threads", "1", "--dtype", "fp16"]
    rows = gpu.main([*args, "--model", str(_fp32())])
    assert [row.batch for row in rows] == [1, 2]
    assert all(row.earmark > 0 and row.raw > 0 for row in rows)
    printed = capsys.readouterr().out
    assert "CPUExecutionProvider" in printed and "wav2vec2 fp16" in printed
    for row in rows:
        assert f"{row.earmark / row.raw:10.2f}x" in printed
