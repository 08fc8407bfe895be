"""The label sets of the tiny test models (``scripts/make_test_models.py``) and the bench model.

Dev-only: each model gets ``id2label``/``label2id`` in the order listed here.
"""

from __future__ import annotations

# superb/wav2vec2-base-superb-ks order (the production default model)
KS_LABELS = [
    "yes",
    "no",
    "up",
    "down",
    "left",
    "right",
    "on",
    "off",
    "stop",
    "go",
    "_unknown_",
    "_silence_",
]
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
EMOTIONS = ["neutral", "calm", "happy", "sad", "angry", "fearful"]
LANG_CODES = ["en", "de", "fr", "es", "it"]
LANGUAGES = [
    "English",
    "German",
    "French",
    "Spanish",
    "Italian",
    "Dutch",
    "Polish",
    "Russian",
    "Japanese",
]
AUDIOSET = [
    "Speech",
    "Music",
    "Dog",
    "Cat",
    "Siren",
    "Vehicle",
    "Bird",
    "Applause",
    "Silence",
    "Noise",
]
AUDIOSET_ML = ["Speech", "Music", "Singing", "Guitar", "Drum", "Vehicle", "Rain", "Wind"]
COMMANDS = ["backward", "bed", "bird", "cat", "dog", "follow", "forward", "learn", "visual", "wow"]


def label_maps(labels: list[str]) -> dict[str, object]:
    id2label = {i: lab for i, lab in enumerate(labels)}
    label2id = {lab: i for i, lab in enumerate(labels)}
    return {"id2label": id2label, "label2id": label2id, "num_labels": len(labels)}
