#!/usr/bin/env python
"""Generate the fidelity fixtures and the reference's answers on them (issue 12).

Dev-only; needs torch, transformers and the ``ffmpeg`` CLI. Run from the repository root:

    .venv/bin/python scripts/make_fidelity_goldens.py

It writes ``tests/data/fidelity/audio/*`` (see ``scripts/fidelity_fixtures.py``) and
``tests/data/fidelity/golden.json``: per fixture, what ``ffmpeg -i pipe:0 -ac 1 -ar 16000 -f
f32le`` (transformers' ``ffmpeg_read``, the CLI itself) decodes it to (length, SHA-256 of the
samples, a few statistics, the first and last samples), and per family the scores of
``transformers.pipeline("audio-classification")`` on the torch model, fed the file's path and,
for the arrays, ``{"array", "sampling_rate"}``. The torch models are rebuilt exactly as
``scripts/make_test_models.py`` builds them, and checked against the committed goldens.

torchaudio cannot be installed beside the pinned torch here, and the pipeline resamples arrays
with ``torchaudio.functional.resample``: a stand-in, ``_torchaudio_resample`` below (a line by
line transcription of torchaudio 2.x's default path in torch), is registered in its place.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.fidelity_fixtures import (  # noqa: E402
    ARRAYS,
    AUDIO_DIR,
    CHAINED,
    FIXTURE_DIR,
    FIXTURES,
    make_fixtures,
)
from scripts.golden_audio import golden_clips, read_clip_like_pipeline  # noqa: E402
from scripts.make_test_models import GOLDEN_DIR, quiet_and_reproducible  # noqa: E402
from scripts.model_specs import SPECS  # noqa: E402
from scripts.reference_models import SEED, build_model, calibrate_classifier  # noqa: E402

if TYPE_CHECKING:
    from transformers import FeatureExtractionMixin

GOLDEN_FILE = FIXTURE_DIR / "golden.json"
#: Fixtures longer than this many seconds are scored only by the families that truncate their
#: input to a fixed size (AST, Whisper): the wave families' attention grows with the square of
#: the length (30 s takes gigabytes, 8 s seconds of test time per family). Their decoding is
#: proven sample by sample all the same.
LONG_S = 3.0
#: Samples kept verbatim at each end of a decoded fixture (the offset shows there first).
EDGE = 16


def _torchaudio_resample(waveform: torch.Tensor, orig_freq: int, new_freq: int) -> torch.Tensor:
    """Stand-in for torchaudio.functional.resample with its defaults (sinc_interp_hann)."""
    if orig_freq == new_freq:
        return waveform
    gcd = math.gcd(int(orig_freq), int(new_freq))
    orig, new = int(orig_freq) // gcd, int(new_freq) // gcd
    base_freq = min(orig, new) * 0.99
    width = math.ceil(6 * orig / base_freq)
    dtype = waveform.dtype
    idx = torch.arange(-width, width + orig, dtype=dtype)[None, None] / orig
    t = torch.arange(0, -new, -1, dtype=dtype)[:, None, None] / new + idx
    t *= base_freq
    t = t.clamp_(-6, 6)
    window = torch.cos(t * math.pi / 6 / 2) ** 2
    t *= math.pi
    scale = base_freq / orig
    kernels = torch.where(t == 0, torch.tensor(1.0).to(t), t.sin() / t)
    kernels *= window * scale
    shape = waveform.size()
    flat = waveform.view(-1, shape[-1])
    length = flat.shape[1]
    flat = torch.nn.functional.pad(flat, (width, width + orig))
    out = torch.nn.functional.conv1d(flat[:, None], kernels, stride=orig)
    out = out.transpose(1, 2).reshape(flat.shape[0], -1)
    target = math.ceil(new * length / orig)
    out = out[..., :target]
    return out.view(shape[:-1] + out.shape[-1:])


def install_torchaudio_stand_in() -> None:
    """Register the stand-in as ``torchaudio.functional`` for the pipeline's array path."""
    package, functional = types.ModuleType("torchaudio"), types.ModuleType("torchaudio.functional")
    functional.resample = _torchaudio_resample  # type: ignore[attr-defined]
    package.functional = functional  # type: ignore[attr-defined]
    sys.modules.update({"torchaudio": package, "torchaudio.functional": functional})
    import transformers.pipelines.audio_classification as ac

    ac.is_torchaudio_available = lambda: True  # type: ignore[attr-defined]


def samples_record(x: np.ndarray) -> dict[str, Any]:
    """What the CLI decoded: enough to prove the same samples, and to say where they differ."""
    x = np.ascontiguousarray(x, "<f4")
    return {
        "length": int(x.size),
        "sha256": hashlib.sha256(x.tobytes()).hexdigest(),
        "sum": float(x.astype(np.float64).sum()),
        "rms": float(np.sqrt(np.mean(x.astype(np.float64) ** 2))),
        "head": [float(v) for v in x[:EDGE]],
        "tail": [float(v) for v in x[-EDGE:]],
    }


def family_scores(spec: Any, clip_waves: list[np.ndarray], paths: list[Path]) -> dict[str, Any]:
    """One family's pipeline scores on every fixture and array, by file name."""
    from transformers import pipeline

    model, extractor = build_model(spec)
    calibrate_classifier(model, extractor, spec, clip_waves)
    pipe = pipeline(
        "audio-classification",
        model=model,
        feature_extractor=cast("FeatureExtractionMixin", extractor),
        device="cpu",
    )
    _check_same_model(pipe, spec.name)
    scores: dict[str, Any] = {}
    fixed = type(extractor).__name__.startswith(("AST", "Whisper"))
    seconds = [f.seconds for f in FIXTURES] + [4.0 for _ in CHAINED]
    for length, path in zip(seconds, paths, strict=True):
        if fixed or length <= LONG_S:
            scores[path.name] = _scores(pipe(str(path), top_k=None))
    for name, _rate, _seconds in ARRAYS:
        x, rate = sf.read(AUDIO_DIR / name, dtype="float32")
        scores[name] = _scores(pipe({"array": x, "sampling_rate": rate}, top_k=None))
    return scores


def _scores(result: Any) -> list[list[Any]]:
    return [[r["label"], r["score"]] for r in cast("list[dict[str, Any]]", result)]


def _check_same_model(pipe: Any, name: str) -> None:
    """The rebuilt torch model gives the committed goldens' scores (it is the ONNX's source)."""
    committed = json.loads((GOLDEN_DIR / f"{name}.json").read_text())["clips"]
    clip = "tone_440hz_1000ms.wav"
    ours = pipe(str(ROOT / "tests/data/audio/golden" / clip), top_k=None)
    expected = {e["label"]: e["score"] for e in committed[clip]["default"]}
    worst = max(abs(expected[r["label"]] - r["score"]) for r in ours)
    if worst > 1e-5:  # torch reductions may round differently; the bar is 1e-3
        raise RuntimeError(f"{name}: rebuilt model differs from the committed one by {worst:.2e}")


def main(argv: list[str] | None = None) -> int:
    """Write the fixtures and golden.json (with --only, refresh those families' scores)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="only these families (keeps the others)")
    only = parser.parse_args(argv).only
    quiet_and_reproducible()
    install_torchaudio_stand_in()
    paths = make_fixtures(SEED)
    clip_waves = [
        read_clip_like_pipeline(ROOT / "tests/data/audio/golden" / name)
        for name in sorted(golden_clips(SEED))
    ]
    golden: dict[str, Any] = {
        "ffmpeg": _ffmpeg_version(),
        "transformers_version": __import__("transformers").__version__,
        "torch_version": torch.__version__,
        "decoded": {p.name: samples_record(read_clip_like_pipeline(p)) for p in paths},
        "scores": json.loads(GOLDEN_FILE.read_text())["scores"] if only else {},
    }
    for spec in (s for s in SPECS if not only or s.name in only):
        golden["scores"][spec.name] = family_scores(spec, clip_waves, paths)
        print(f"{spec.name}: {len(golden['scores'][spec.name])} inputs", flush=True)
    GOLDEN_FILE.write_text(json.dumps(golden, indent=1) + "\n")
    size = sum(p.stat().st_size for p in AUDIO_DIR.iterdir())
    print(f"{len(paths)} fixtures, {len(ARRAYS)} arrays, {size / 1024:.0f} KB; {GOLDEN_FILE}")
    return 0


def _ffmpeg_version() -> str:
    import subprocess

    out = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True)
    return out.stdout.split(" Copyright")[0]


if __name__ == "__main__":
    sys.exit(main())
