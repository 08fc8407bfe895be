"""Model files: a local folder or a Hub repository in the Hub's ONNX layout."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from producer.errors import ModelError
from producer.settings import Dtype

#: The ONNX file each dtype picks, as transformers.js names them under ``onnx/``.
ONNX_FILES: dict[str, str] = {
    "fp32": "model.onnx",
    "q8": "model_quantized.onnx",
    "fp16": "model_fp16.onnx",
    # Not a transformers.js name: static int8 that `earmark optimize` makes (worker/optimize.py).
    "int8": "model_int8_static.onnx",
}


@dataclass(frozen=True)
class ModelFiles:
    """The three files a model needs, read or located on disk."""

    model_id: str
    revision: str | None
    dtype: Dtype
    config: dict[str, Any]
    preprocessor: dict[str, Any]
    onnx_path: Path


def resolve_model(model: str, *, revision: str = "main", dtype: Dtype = "q8") -> ModelFiles:
    """Locate a model's files: a local folder as is, anything else through the Hub or its cache."""
    if dtype not in ONNX_FILES:
        raise ModelError(f"unknown dtype {dtype!r}: use one of {', '.join(ONNX_FILES)}")
    onnx_name = f"onnx/{ONNX_FILES[dtype]}"
    folder = Path(model).expanduser()
    if folder.is_dir():
        root, rev = folder, None
        _require(root, ("config.json", "preprocessor_config.json", onnx_name), model)
    else:
        root, rev = _download(model, revision, onnx_name)
    return ModelFiles(
        model_id=model,
        revision=rev,
        dtype=dtype,
        config=_read_json(root / "config.json"),
        preprocessor=_read_json(root / "preprocessor_config.json"),
        onnx_path=root / onnx_name,
    )


def _require(root: Path, names: tuple[str, ...], model: str) -> None:
    missing = [name for name in names if not (root / name).is_file()]
    if missing:
        raise ModelError(f"model folder {model} lacks {', '.join(missing)}")


def _download(repo_id: str, revision: str, onnx_name: str) -> tuple[Path, str]:
    # Imported here: the producer side never needs huggingface_hub.
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HFValidationError

    paths: dict[str, Path] = {}
    try:
        for name in ("config.json", "preprocessor_config.json", onnx_name):
            paths[name] = Path(hf_hub_download(repo_id, name, revision=revision))
    except (HFValidationError, EntryNotFoundError, OSError) as e:
        raise ModelError(f"cannot fetch {repo_id}@{revision}: {type(e).__name__}: {e}") from e
    # Graphs over 2 GB keep their weights beside them; most models have none.
    with contextlib.suppress(EntryNotFoundError, OSError):
        hf_hub_download(repo_id, f"{onnx_name}_data", revision=revision)
    root = paths["config.json"].parent
    return root, root.name  # Hub snapshots are named after the commit they hold.


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot read {path.name}: {e}") from e
    if not isinstance(value, dict):
        raise ModelError(f"{path.name} is not a JSON object")
    return value
