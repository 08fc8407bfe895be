"""earmark against raw ONNX Runtime on one device: ``python -m bench.gpu [--quick]``.

One short prepared run (a few minutes on a GPU machine): clips/s at batch 1 to 64 of
earmark's classifier (features, then the session with I/O binding where the provider wants it)
and of a bare ONNX Runtime session fed precomputed features, on the same graph, providers and
one-second clips, best of ``--repeats`` after a warm-up, with their ratio. With
``--providers CPUExecutionProvider --quick`` it runs anywhere in seconds (the tests do so).

The default model is the committed demo; pass ``--model bench/models/wav2vec2-base`` (built by
``python -m bench.make_model`` where torch is installed, then copied) for the full-size one.
``--dtype fp16`` uses ``onnx/model_fp16.onnx``, converted from the fp32 graph when missing.
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from worker.classifier import Classifier
from worker.hub import ModelFiles, resolve_model
from worker.model import SessionOptions

ROOT = Path(__file__).resolve().parents[1]
#: The model measured unless --model names another.
DEFAULT_MODEL = ROOT / "models" / "earmark-kws-demo"
#: Batch sizes measured; --quick measures the first two.
BATCHES = (1, 2, 4, 8, 16, 32, 64)
#: Clips per measured pass at each batch size (a multiple of every batch size).
CLIPS = 256
#: Seed of the generated clips.
SEED = 20261204


@dataclass(frozen=True)
class Row:
    """Clips/s at one batch size: earmark's classifier and the bare session."""

    batch: int
    earmark: float
    raw: float

    @property
    def ratio(self) -> float:
        """earmark's clips/s over the bare session's."""
        return self.earmark / self.raw


def fp16_files(files: ModelFiles, folder: Path) -> ModelFiles:
    """`files` with an fp16 graph: the model's own, or its fp32 graph converted into `folder`."""
    if files.onnx_path.is_file():
        return files
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    fp32 = files.onnx_path.with_name("model.onnx")
    target = folder / "model_fp16.onnx"
    onnx.save(convert_float_to_float16(onnx.load(fp32), keep_io_types=False), target)
    return ModelFiles(**{**files.__dict__, "onnx_path": target})


def best_rate(run: Callable[[], None], clips: int, repeats: int) -> float:
    """Best clips/s of `run` (which handles `clips` clips) over `repeats` passes after a warm-up."""
    run()
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = max(best, clips / (time.perf_counter() - started))
    return best


def measure(
    files: ModelFiles, options: SessionOptions, batches: Sequence[int], clips: int, repeats: int
) -> list[Row]:
    """One row per batch size: earmark and the bare session on the same clips and graph."""
    model = Classifier(files, options)
    rng = np.random.default_rng(SEED)
    waves = [0.1 * rng.standard_normal(model.sampling_rate).astype(np.float32)] * clips
    bare_options = ort.SessionOptions()
    bare_options.intra_op_num_threads = options.intra_op_threads
    session = ort.InferenceSession(
        str(files.onnx_path), bare_options, providers=list(model.model.providers)
    )
    declared = {i.name: i.type for i in session.get_inputs()}
    rows = []
    for batch in batches:
        features = model.extractor(waves[:batch])
        feeds = {
            name: np.ascontiguousarray(features[name], np.float16 if "16" in kind else None)
            for name, kind in declared.items()
        }

        def bare(feeds: dict[str, np.ndarray] = feeds, batch: int = batch) -> None:
            for _ in range(clips // batch):
                session.run(["logits"], feeds)

        def ours(batch: int = batch) -> None:
            model.infer(waves, batch)

        rows.append(Row(batch, best_rate(ours, clips, repeats), best_rate(bare, clips, repeats)))
    return rows


def device_name() -> str:
    """The GPU's name from nvidia-smi, or what ONNX Runtime says it runs on."""
    if shutil.which("nvidia-smi"):
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip().splitlines()[0]
    return str(ort.get_device())


def main(argv: Sequence[str] | None = None) -> list[Row]:
    """Print clips/s of earmark and the bare session at each batch size; return the rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--dtype", choices=["fp32", "q8", "fp16"], default="fp32")
    parser.add_argument("--providers", default="CUDAExecutionProvider,CPUExecutionProvider")
    parser.add_argument("--quick", action="store_true", help="batch 1 and 2, 8 clips, 1 pass")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: one per core)")
    args = parser.parse_args(argv)
    providers = [name.strip() for name in args.providers.split(",") if name.strip()]
    batches, clips = (BATCHES[:2], 8) if args.quick else (BATCHES, CLIPS)
    with tempfile.TemporaryDirectory() as folder:
        files = resolve_model(str(args.model), dtype="fp32" if args.dtype == "fp16" else args.dtype)
        if args.dtype == "fp16":
            files = fp16_files(_as_fp16(files), Path(folder))
        options = SessionOptions(providers=tuple(providers), intra_op_threads=args.threads)
        rows = measure(files, options, batches, clips, 1 if args.quick else args.repeats)
    today = datetime.date.today().isoformat()
    print(f"{today}, {device_name()}, onnxruntime {ort.__version__}, {', '.join(providers)}")
    print(f"{args.model.name} {args.dtype}, {clips} one-second clips per pass")
    print("batch  earmark clips/s  raw ORT clips/s  earmark/raw")
    for row in rows:
        print(f"{row.batch:5}  {row.earmark:15.1f}  {row.raw:15.1f}  {row.ratio:10.2f}x")
    return rows


def _as_fp16(files: ModelFiles) -> ModelFiles:
    path = files.onnx_path.with_name("model_fp16.onnx")
    return ModelFiles(**{**files.__dict__, "onnx_path": path, "dtype": "fp16"})


if __name__ == "__main__":
    main()
