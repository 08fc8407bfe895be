#!/usr/bin/env python
"""Train earmark's bundled keyword-spotting demo model, from scratch, on espeak-ng speech.

Dev-only (needs torch, transformers, onnx, onnxruntime and the ``espeak-ng`` binary; no
network). Run from the repository root:

    .venv/bin/python scripts/train_demo_model.py

It synthesises Speech Commands-style clips (``scripts/demo_data.py``: the ten keywords, other
words for ``_unknown_``, noise for ``_silence_``), trains a small group-norm
``Wav2Vec2ForSequenceClassification`` on the training voices and speeds with noise, gain,
shift and reverb augmentation, and writes:

* ``models/earmark-kws-demo/``: ``config.json``, ``preprocessor_config.json``,
  ``onnx/model.onnx`` (fp32, opset 17) and ``onnx/model_quantized.onnx`` (dynamic QUInt8), and
  the model card ``README.md`` with the held-out accuracies this run measured;
* ``samples/<keyword>.wav``: one clip per keyword by a held-out voice (16 kHz PCM_16).

Seeded throughout; espeak-ng clips are cached under the system temp folder between runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file: make `scripts.*` importable
    sys.path.insert(0, str(ROOT))

from scripts import demo_data as data  # noqa: E402
from scripts.onnx_export import Spec, export_onnx  # noqa: E402

OUT_DIR = ROOT / "models" / "earmark-kws-demo"
SAMPLES_DIR = ROOT / "samples"
SEED = 20250601
#: Optimiser steps, clips per step, peak learning rate and its linear warm-up (steps).
STEPS = 2600
BATCH = 32
LR = 2e-3
WARMUP = 150
#: torch threads. One: on a shared 2-core machine two OpenMP threads contend with the other
#: work and a step took 2.4x longer (1.08 s vs 0.45 s at batch 32, measured).
THREADS = 1
#: How often each label is drawn, relative to a keyword: ``_unknown_`` covers 36 words.
LABEL_WEIGHTS = {data.UNKNOWN: 2.0}
#: Held-out evaluation every this many steps (printed only: nothing is selected on it).
EVAL_EVERY = 400
#: The voice and speed (words per minute) of ``samples/``: a held-out voice, a held-out speed.
SAMPLE_VOICE = ("en-gb-x-gbcwmd+f2", 140)

#: The architecture: wav2vec2 with a group-norm conv front end like superb-ks, shrunk. The
#: front end's total stride is 320 samples (20 ms frames, as in wav2vec2-base), so 1 s is 49
#: frames; SpecAugment masks one 5-frame span per clip while training.
MODEL_CONFIG: dict[str, Any] = {
    "conv_dim": (64, 64, 96, 96, 128),
    "conv_kernel": (20, 5, 3, 3, 3),
    "conv_stride": (10, 4, 2, 2, 2),
    "num_feat_extract_layers": 5,
    "feat_extract_norm": "group",
    "do_stable_layer_norm": False,
    "hidden_size": 128,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "intermediate_size": 256,
    "num_conv_pos_embeddings": 32,
    "num_conv_pos_embedding_groups": 8,
    "classifier_proj_size": 64,
    "layerdrop": 0.0,
    "hidden_dropout": 0.1,
    "attention_dropout": 0.1,
    "activation_dropout": 0.0,
    "final_dropout": 0.1,
    "mask_time_prob": 0.05,
    "mask_time_length": 5,
    "mask_time_min_masks": 1,
}


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------


def training_utterances(rng: np.random.Generator) -> list[data.Utterance]:
    """Every training voice says each keyword at 4 training speeds and each other word once."""
    voices = [b + (f"+{v}" if v else "") for b in data.TRAIN_BASES for v in data.TRAIN_VARIANTS]
    out = []
    for voice in voices:
        for word in data.KEYWORDS:
            for speed in rng.choice(data.TRAIN_SPEEDS, 4, replace=False):
                out.append(_utterance(word, voice, int(speed), rng))
        for word in data.UNKNOWN_WORDS:
            out.append(_utterance(word, voice, int(rng.choice(data.TRAIN_SPEEDS)), rng))
    return out


def _utterance(word: str, voice: str, speed: int, rng: np.random.Generator) -> data.Utterance:
    pitch, amplitude = int(rng.integers(20, 81)), int(rng.integers(60, 181))
    return data.Utterance(word, voice, speed, pitch, amplitude)


def synthesize_cached(utterances: list[data.Utterance]) -> np.ndarray:
    """``data.synthesize``, cached by the utterance list and the espeak-ng version."""
    key = hashlib.sha256((espeak_version() + repr(utterances)).encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / "earmark-kws-demo" / f"{key}.npy"
    if cache.is_file():
        cached: np.ndarray = np.load(cache)
        return cached
    started = time.perf_counter()
    clips = data.synthesize(utterances)
    print(f"  espeak-ng: {len(clips)} clips in {time.perf_counter() - started:.0f} s", flush=True)
    cache.parent.mkdir(exist_ok=True)
    np.save(cache, clips)
    return clips


def espeak_version() -> str:
    """``espeak-ng --version``: "eSpeak NG text-to-speech: 1.51  Data at: ..."."""
    command = [data.require_espeak(), "--version"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def label_ids(utterances: list[data.Utterance]) -> np.ndarray:
    """The label id of each utterance."""
    return np.array([data.LABELS.index(u.label) for u in utterances], dtype=np.int64)


def held_out_set(noisy: bool) -> tuple[np.ndarray, np.ndarray]:
    """Keywords, unknown words and silence from held-out voices and speeds: (clips, ids).

    ``noisy`` adds seeded background noise at 10-20 dB SNR to the spoken clips.
    """
    utterances = data.held_out_utterances(data.KEYWORDS) + data.held_out_unknown()
    speech = synthesize_cached(utterances)
    if noisy:
        rng = np.random.default_rng(SEED + 1)
        speech = np.stack([add_noise(x, rng, rng.uniform(10, 20)) for x in speech])
    silence = data.held_out_silence(120)
    clips = np.concatenate([speech, silence]).astype(np.float32)
    ids = np.concatenate([label_ids(utterances), np.full(len(silence), len(data.LABELS) - 1)])
    return clips, ids


# --------------------------------------------------------------------------------------
# Augmentation (numpy, one clip at a time)
# --------------------------------------------------------------------------------------


def add_noise(x: np.ndarray, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    """``x`` plus background noise of a random kind at ``snr_db`` (clip RMS)."""
    kind = data.NOISE_KINDS[rng.integers(len(data.NOISE_KINDS))]
    rms = float(np.sqrt(np.mean(x**2))) + 1e-9
    return (x + rms * 10 ** (-snr_db / 20) * data.noise(kind, rng)).astype(np.float32)


def reverb(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A small room: convolution with exponentially decaying noise, RT60 0.1-0.4 s."""
    rt60 = rng.uniform(0.1, 0.4)
    n = int(rt60 * data.SAMPLING_RATE)
    t = np.arange(n) / data.SAMPLING_RATE
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60) * rng.uniform(0.05, 0.3)
    ir[0] = 1.0
    size = 1 << int(np.ceil(np.log2(len(x) + n)))
    wet = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(ir, size), size)[: len(x)]
    scaled: np.ndarray = (wet * np.abs(x).max() / (np.abs(wet).max() + 1e-9)).astype(np.float32)
    return scaled


def shift(x: np.ndarray, samples: int) -> np.ndarray:
    """``x`` moved by ``samples`` (later when positive), zero-filled."""
    out = np.zeros_like(x)
    if samples >= 0:
        out[samples:] = x[: len(x) - samples]
    else:
        out[:samples] = x[-samples:]
    return out


def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shift up to 100 ms, maybe reverb, gain -20..+6 dB (clipped), maybe noise at 5-30 dB."""
    x = shift(x, int(rng.integers(-1600, 1601)))
    if rng.random() < 0.3:
        x = reverb(x, rng)
    x = np.clip(x * 10 ** (rng.uniform(-20, 6) / 20), -1.0, 1.0)
    if rng.random() < 0.7:
        x = add_noise(x, rng, rng.uniform(5, 30))
    return x.astype(np.float32)


def normalize(batch: np.ndarray) -> torch.Tensor:
    """Per-clip zero mean, unit variance: what ``Wav2Vec2FeatureExtractor`` does."""
    batch = batch.astype(np.float32)
    mean = batch.mean(axis=1, keepdims=True)
    var = batch.var(axis=1, keepdims=True)
    return torch.from_numpy((batch - mean) / np.sqrt(var + 1e-7))


class Batches:
    """Label-balanced training batches (``LABEL_WEIGHTS``), silence made fresh each time."""

    def __init__(self, clips: np.ndarray, ids: np.ndarray, rng: np.random.Generator) -> None:
        self.clips, self.rng = clips, rng
        self.by_label = [np.flatnonzero(ids == i) for i in range(len(data.LABELS))]
        weights = np.array([LABEL_WEIGHTS.get(label, 1.0) for label in data.LABELS])
        self.p = weights / weights.sum()

    def __call__(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``size`` augmented, normalised clips and their label ids."""
        labels = self.rng.choice(len(data.LABELS), size=size, p=self.p)
        batch = []
        for label in labels:
            if data.LABELS[label] == data.SILENCE:
                batch.append(data.silence_clip(self.rng))
            else:
                clip = self.clips[self.rng.choice(self.by_label[label])]
                batch.append(augment(clip, self.rng))
        return normalize(np.stack(batch)), torch.from_numpy(labels)


# --------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------


def build_model() -> torch.nn.Module:
    """A fresh, seeded ``Wav2Vec2ForSequenceClassification`` with the demo's labels."""
    from transformers import Wav2Vec2Config, Wav2Vec2ForSequenceClassification

    torch.manual_seed(SEED)
    config = Wav2Vec2Config(
        **MODEL_CONFIG,
        id2label=dict(enumerate(data.LABELS)),
        label2id={label: i for i, label in enumerate(data.LABELS)},
        architectures=["Wav2Vec2ForSequenceClassification"],
    )
    return Wav2Vec2ForSequenceClassification(config)


def train(
    model: torch.nn.Module, batches: Batches, steps: int, held_out: tuple[np.ndarray, np.ndarray]
) -> None:
    """AdamW, linear warm-up then cosine decay, label smoothing 0.05, gradient clip 1."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min(1.0, (s + 1) / WARMUP) * 0.5 * (1 + np.cos(np.pi * min(s / steps, 1.0))),
    )
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    started, seen, correct, total_loss = time.perf_counter(), 0, 0, 0.0
    for step in range(1, steps + 1):
        model.train()
        x, y = batches(BATCH)
        logits = model(input_values=x).logits
        loss = loss_fn(logits, y)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        seen, correct = seen + len(y), correct + int((logits.argmax(-1) == y).sum())
        total_loss += loss.item() * len(y)
        if step % 100 == 0:
            print(
                f"step {step:5d}  loss {total_loss / seen:.3f}  train acc {correct / seen:.3f}  "
                f"{time.perf_counter() - started:6.0f} s",
                flush=True,
            )
            seen, correct, total_loss = 0, 0, 0.0
        if step % EVAL_EVERY == 0 or step == steps:
            score = accuracy(torch_logits(model, held_out[0]), held_out[1])
            print(f"  held-out accuracy (torch): {score:.4f}", flush=True)


def torch_logits(model: torch.nn.Module, clips: np.ndarray) -> np.ndarray:
    """Logits of the model in eval mode, 64 clips at a time."""
    with torch.no_grad():
        model.eval()
        parts = [
            model(input_values=normalize(clips[i : i + 64])).logits
            for i in range(0, len(clips), 64)
        ]
        logits: np.ndarray = torch.cat(parts).numpy()
        return logits


def accuracy(logits: np.ndarray, ids: np.ndarray) -> float:
    """Top-1 accuracy."""
    return float(np.mean(logits.argmax(-1) == ids))


# --------------------------------------------------------------------------------------
# Export and evaluation on ONNX Runtime
# --------------------------------------------------------------------------------------


def export(model: torch.nn.Module, out_dir: Path) -> tuple[Path, Path]:
    """Config, preprocessor config, fp32 and int8 ONNX graphs in the Hub layout."""
    from transformers import Wav2Vec2FeatureExtractor

    if out_dir.exists():
        shutil.rmtree(out_dir)
    (out_dir / "onnx").mkdir(parents=True)
    model.eval()
    model.config.save_pretrained(out_dir)
    extractor = Wav2Vec2FeatureExtractor(  # type: ignore[no-untyped-call]
        feature_size=1,
        sampling_rate=data.SAMPLING_RATE,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=False,
    )
    extractor.save_pretrained(out_dir)
    spec = Spec(
        name=out_dir.name,
        model_cls="Wav2Vec2ForSequenceClassification",
        config_cls="Wav2Vec2Config",
        config_kwargs=MODEL_CONFIG,
        extractor=lambda: extractor,
        input_names=["input_values"],
        labels=list(data.LABELS),
        dynamic_axes={"input_values": {0: "batch_size", 1: "sequence_length"}},
    )
    example = normalize(np.random.default_rng(SEED).uniform(-0.5, 0.5, (2, 16000)))
    fp32, int8 = out_dir / "onnx" / "model.onnx", out_dir / "onnx" / "model_quantized.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_onnx(model, spec, [example], fp32)
    quantize(fp32, int8)
    return fp32, int8


def quantize(fp32: Path, out: Path) -> None:
    """Dynamic QUInt8 as Xenova's graphs, except the feature encoder's convolutions.

    Quantising their activations per tensor moved held-out logits by up to 6.6 and cost 20
    points of accuracy in a trial run; they hold 103k of the weights, so the graph stays small.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(fp32)).graph
    keep = [n.name for n in graph.node if n.op_type == "Conv" and "feature_extractor" in n.name]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs shape-inference chatter on the root
    try:
        quantize_dynamic(
            model_input=str(fp32),
            model_output=str(out),
            weight_type=QuantType.QUInt8,
            per_channel=False,
            reduce_range=False,
            nodes_to_exclude=keep,
        )
    finally:
        root.setLevel(level)


def ort_logits(path: Path, clips: np.ndarray, batch: int) -> np.ndarray:
    """Logits from ONNX Runtime, ``batch`` clips per call (int8 graphs: 1, as earmark runs them)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    parts = [
        session.run(["logits"], {"input_values": normalize(clips[i : i + batch]).numpy()})[0]
        for i in range(0, len(clips), batch)
    ]
    return np.concatenate(parts)


def check_export(model: torch.nn.Module, fp32: Path) -> float:
    """Max abs difference of ONNX fp32 and torch logits over several clip lengths."""
    rng = np.random.default_rng(SEED + 2)
    worst = 0.0
    for n in (8000, 16000, 24001):
        clips = rng.uniform(-0.3, 0.3, (3, n)).astype(np.float32)
        diff = np.abs(ort_logits(fp32, clips, 3) - torch_logits(model, clips)).max()
        worst = max(worst, float(diff))
    if worst > 1e-3:
        raise RuntimeError(f"ONNX fp32 differs from torch by {worst:.2e}")
    return worst


def groups(ids: np.ndarray) -> dict[str, np.ndarray]:
    """Masks of all clips, keywords, unknown words and silence."""
    return {
        "all": np.ones_like(ids, dtype=bool),
        "keywords": ids < len(data.KEYWORDS),
        "unknown": ids == data.LABELS.index(data.UNKNOWN),
        "silence": ids == data.LABELS.index(data.SILENCE),
    }


def per_group(logits: np.ndarray, ids: np.ndarray) -> dict[str, float]:
    """Accuracy overall and on keywords, unknown words and silence."""
    return {name: accuracy(logits[mask], ids[mask]) for name, mask in groups(ids).items()}


# --------------------------------------------------------------------------------------
# Samples and model card
# --------------------------------------------------------------------------------------


def write_samples(fp32: Path, int8: Path) -> dict[str, list[str]]:
    """``samples/<keyword>.wav`` by the held-out sample voice; each graph's label for each."""
    voice, speed = SAMPLE_VOICE
    clips = data.synthesize([data.Utterance(word, voice, speed) for word in data.KEYWORDS])
    SAMPLES_DIR.mkdir(exist_ok=True)
    paths = [SAMPLES_DIR / f"{word}.wav" for word in data.KEYWORDS]
    for path, clip in zip(paths, clips, strict=True):
        sf.write(path, clip, data.SAMPLING_RATE, subtype="PCM_16")
    stored = np.stack([sf.read(path, dtype="float32")[0] for path in paths])
    return {
        graph.name: [data.LABELS[i] for i in ort_logits(graph, stored, 1).argmax(-1)]
        for graph in (fp32, int8)
    }


CARD = """\
---
license: apache-2.0
pipeline_tag: audio-classification
tags: [keyword-spotting, speech-commands, onnx, synthetic-data]
---

# earmark-kws-demo

A small keyword-spotting model that ships with earmark so that the demo and the tests give
real answers offline. It has the labels, in the same order, of the production default
`Xenova/wav2vec2-base-superb-ks` (Speech Commands: `yes, no, up, down, left, right, on, off,
stop, go, _unknown_, _silence_`, ids 0-11), and it was trained from scratch, in this
repository, on speech synthesised by espeak-ng. **It is a demo, not a production model**: it
has never heard a human voice.

## Files

| file | size |
|---|---|
| `config.json`, `preprocessor_config.json` | {small_kb:.1f} KB |
| `onnx/model.onnx`: fp32, opset 17, `input_values` [batch, samples] → `logits` | {fp32_mb:.2f} MB |
| `onnx/model_quantized.onnx` (dynamic QUInt8) | {int8_mb:.2f} MB |
| all four | {total_mb:.2f} MB |

## Model

`Wav2Vec2ForSequenceClassification` with a group-norm convolutional feature encoder, like the
default model, shrunk to {parameters:,} parameters: five convolutions (64, 64, 96, 96, 128
channels, kernels 20/5/3/3/3, strides 10/4/2/2/2: a 20 ms frame as in wav2vec2-base, 49 frames
per second), a 128-wide post-norm transformer of 3 layers with 4 heads and 256-wide
feed-forward blocks, mean pooling and a 64-wide projection. The feature extractor is
`Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=False)`, as for the default
model. Full configuration: `{config}`.

The int8 graph is `onnxruntime.quantization.quantize_dynamic` with QUInt8 weights, per tensor,
like Xenova's graphs, except that the five convolutions of the feature encoder stay fp32:
quantising their activations per tensor moved logits by up to 6.6 and cost about 20 points in a
trial run. The fp32 graph matches torch to {onnx_fp32_vs_torch_max_abs:.1e} (max abs logit
difference over clips of 0.5 s, 1 s and 1.5 s).

## Data

All of it is made by `scripts/demo_data.py` with espeak-ng {espeak} (22.05 kHz WAV, resampled
to 16 kHz with soxr HQ), trimmed of silence and centred in 1 s clips, like Speech Commands.

- **Keywords**: the ten words; each training voice says each at 4 of the training speeds.
- **`_unknown_`**: 36 other words, each said once by each training voice:
  {unknown_words}.
- **`_silence_`**: near-digital silence and white, pink, brown and mains-hum noise at levels from
  -90 to -14 dBFS, sometimes two mixed; made fresh for every batch.
- **Training voices**: the accents
  {train_voices},
  each plain and with the variants
  {train_variants}
  (72 voices); speeds (`-s`, words per minute) {train_speeds}; pitch (`-p`) 20-80 and
  amplitude (`-a`) 60-180 at random. {train_clips} spoken clips.
- **Augmentation** (numpy, every draw): time shift of up to 100 ms, a small room (reverb with
  RT60 0.1-0.4 s) for 30 % of clips, gain of -20 to +6 dB with clipping, and white, pink, brown
  or hum noise at 5-30 dB SNR for 70 % of clips. `_unknown_` is drawn twice as often as each
  keyword, `_silence_` as often.
- **Held out, never in training**: the accents `en-029` (Caribbean) and `en-gb-x-gbcwmd` (West
  Midlands), the variants `+m3`, `+f2` and `+klatt2`, and the speeds {held_out_speeds}. The
  12 held-out voices,
  {held_out_voices},
  each say each keyword at the three held-out speeds and 10 of the other words, with pitches 35,
  50 and 65; with 120 fresh silence clips that makes {held_out_clips} clips. "noisy" below is
  the same set with noise at 10-20 dB SNR.

## Training

Seed {seed}, {steps_} steps of {batch} clips, AdamW (lr {lr}, weight decay 0.01) with {warmup}
warm-up steps and cosine decay, label smoothing 0.05, gradient clipping at 1, SpecAugment-style
time masks (one 5-frame span per clip), torch {torch}, transformers {transformers}, on the CPU.
No checkpoint was selected on the held-out set: the model is the one after the last step. (The
step count, label weights and augmentation strengths were set after two short trial runs, which
reported held-out accuracy too.)

## Held-out accuracy

Top-1, measured with ONNX Runtime {onnxruntime} on the exported graphs (the int8 graph one clip
per call, as earmark runs it):

| held-out set | labels | clips | fp32 | int8 |
|---|---|---|---|---|
{table}

`samples/*.wav` are the ten keywords said by `{sample_voice}` at {sample_speed} words per
minute, a held-out voice and speed; {samples_line}.

## Limits

- Synthetic voices only: espeak-ng's formant synthesiser, English accents. Expect much worse
  results on human speech, children, far-field audio or real background noise.
- Only 1 s clips of one isolated word were seen; longer audio needs earmark's `--window`.
- The `_unknown_` words are a fixed list of 36; other words may come out as keywords.
- Not for production: use `Xenova/wav2vec2-base-superb-ks` (the default) there.

## Retrain

    .venv/bin/python scripts/train_demo_model.py

needs torch, transformers, onnx, onnxruntime, soxr and the `espeak-ng` binary (Debian package
`espeak-ng`), and no network. It rewrites this folder, this card included, and `samples/`.
The last run took {wall_min:.1f} min wall clock ({train_min:.1f} min of it training, one torch
thread) on a 2-core machine shared with other work. Results vary slightly with the CPU and the
library versions.
"""


def samples_line(labels: dict[str, list[str]]) -> str:
    """What the card says about ``samples/``: all right, or which ones each graph got wrong."""
    wrong = [
        f"{graph} labels `{word}.wav` as `{got}`"
        for graph, got_all in labels.items()
        for word, got in zip(data.KEYWORDS, got_all, strict=True)
        if got != word
    ]
    return "; ".join(wrong) if wrong else "both graphs label each one as its word"


def write_card(out_dir: Path, m: dict[str, Any]) -> None:
    """The model card, filled in with this run's measurements."""
    sizes = m["sizes_bytes"]
    rows = []
    for name in ("clean", "noisy"):
        for group in ("all", "keywords", "unknown", "silence"):
            fp32, int8 = m[f"{name}_fp32"][group], m[f"{name}_int8"][group]
            rows.append(f"| {name} | {group} | {m['counts'][group]} | {fp32:.1%} | {int8:.1%} |")
    card = CARD.format(
        **m,
        table="\n".join(rows),
        total_mb=sum(sizes.values()) / 1e6,
        fp32_mb=sizes["model.onnx"] / 1e6,
        int8_mb=sizes["model_quantized.onnx"] / 1e6,
        small_kb=(sizes["config.json"] + sizes["preprocessor_config.json"]) / 1e3,
        wall_min=m["wall_s"] / 60,
        train_min=m["train_s"] / 60,
        config=json.dumps(
            {k: list(v) if isinstance(v, tuple) else v for k, v in MODEL_CONFIG.items()}
        ),
        train_voices=", ".join(f"`{v}`" for v in data.TRAIN_BASES),
        train_variants=", ".join(f"`+{v}`" for v in data.TRAIN_VARIANTS if v),
        held_out_voices=", ".join(f"`{v}`" for v in data.HELD_OUT_VOICES),
        train_speeds=", ".join(map(str, data.TRAIN_SPEEDS)),
        held_out_speeds=", ".join(map(str, data.HELD_OUT_SPEEDS)),
        unknown_words=", ".join(data.UNKNOWN_WORDS),
        samples_line=samples_line(m["samples"]),
        sample_voice=SAMPLE_VOICE[0],
        sample_speed=SAMPLE_VOICE[1],
        steps_=m["steps"],
        lr=LR,
        warmup=WARMUP,
        seed=SEED,
    )
    (out_dir / "README.md").write_text(card)


def main(argv: list[str] | None = None) -> int:
    """Synthesise, train, export, evaluate, write samples and the model card."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--threads", type=int, default=THREADS)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(SEED)

    print("synthesising training and held-out clips", flush=True)
    utterances = training_utterances(rng)
    clips, ids = synthesize_cached(utterances), label_ids(utterances)
    held_out = {"clean": held_out_set(noisy=False), "noisy": held_out_set(noisy=True)}

    model = build_model()
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {params:,} parameters; training {args.steps} steps of {BATCH}", flush=True)
    train_started = time.perf_counter()
    train(model, Batches(clips, ids, rng), args.steps, held_out["clean"])
    train_s = time.perf_counter() - train_started

    fp32, int8 = export(model, args.out)
    metrics = evaluate(model, fp32, int8, held_out)
    metrics.update(
        parameters=params,
        train_clips=len(clips),
        steps=args.steps,
        batch=BATCH,
        samples=write_samples(fp32, int8),
        train_s=round(train_s),
        wall_s=round(time.perf_counter() - started),
    )
    write_card(args.out, metrics)
    print(json.dumps(metrics, indent=1))
    return 0


def evaluate(
    model: torch.nn.Module,
    fp32: Path,
    int8: Path,
    held_out: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, Any]:
    """Export check, file sizes, held-out accuracies on both graphs, library versions."""
    import onnxruntime
    import transformers

    ids = held_out["clean"][1]
    metrics: dict[str, Any] = {
        "onnx_fp32_vs_torch_max_abs": check_export(model, fp32),
        "sizes_bytes": {p.name: p.stat().st_size for p in fp32.parent.parent.rglob("*.*")},
        "held_out_clips": len(ids),
        "counts": {k: int(v.sum()) for k, v in groups(ids).items()},
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnxruntime": onnxruntime.__version__,
        "espeak": espeak_version().split()[3],
    }
    for name, (x, y) in held_out.items():
        metrics[f"{name}_fp32"] = per_group(ort_logits(fp32, x, 64), y)
        metrics[f"{name}_int8"] = per_group(ort_logits(int8, x, 1), y)
    return metrics


if __name__ == "__main__":
    sys.exit(main())
