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


def resolve_model(
    model: str, *, revision: str = "main", dtype: Dtype = "q8", setting: str | None = None
) -> ModelFiles:
    """Locate a model's files: a local folder as is, a Hub id through the Hub or its cache.

    `model` is a local folder when one exists there, or when it reads as a path: absolute, or
    starting with ``./``, ``../`` or ``~``, or with more than one ``/`` (a Hub id has one), or
    under an existing folder (``models/typo`` beside a ``models/`` folder). Such a folder must
    exist and hold the three files, else the error says so at once, never asking the Hub.
    Anything else must be a Hub id, ``owner/name``. `setting` (``EARMARK_MODEL``) is named in the
    errors, so that a typo says where to mend it.
    """
    if dtype not in ONNX_FILES:
        raise ModelError(f"unknown dtype {dtype!r}: use one of {', '.join(ONNX_FILES)}")
    onnx_name = f"onnx/{ONNX_FILES[dtype]}"
    named = f"{model} ({setting})" if setting else model
    if _is_folder(model):
        root, rev = Path(model).expanduser(), None
        _require(root, ("config.json", "preprocessor_config.json", onnx_name), named, dtype)
    else:
        _require_hub_id(model, named)
        root, rev = _download(model, revision, onnx_name)
    return ModelFiles(
        model_id=model,
        revision=rev,
        dtype=dtype,
        config=_read_json(root / "config.json"),
        preprocessor=_read_json(root / "preprocessor_config.json"),
        onnx_path=root / onnx_name,
    )


#: How a model reference that means a local path starts; a Hub id never does.
_PATH_PREFIXES = ("/", "./", "../", "~")


def _is_folder(model: str) -> bool:
    """Whether `model` names a local folder rather than a Hub id (resolve_model's rule)."""
    path = Path(model).expanduser()
    if path.is_dir() or model in (".", "..") or model.startswith(_PATH_PREFIXES):
        return True
    if model.count("/") > 1:
        return True
    return "/" in model and Path(model.split("/", 1)[0]).is_dir()


def _require(root: Path, names: tuple[str, ...], named: str, dtype: str) -> None:
    """A ModelError naming the folder and what it lacks, when it lacks any of `names`."""
    if not root.is_dir():
        raise ModelError(f"no such model folder: {named}")
    missing = [name for name in names if not (root / name).is_file()]
    if missing:
        graph = f"onnx/{ONNX_FILES[dtype]}"
        why = f" (dtype {dtype} reads {graph}; EARMARK_DTYPE)" if graph in missing else ""
        raise ModelError(f"model folder {named} lacks {', '.join(missing)}{why}")


def _require_hub_id(model: str, named: str) -> None:
    """A ModelError at once, before any request, when `model` cannot be a Hub id."""
    from huggingface_hub.errors import HFValidationError

    # Public in huggingface_hub.utils since 0.10, though not in its __all__.
    from huggingface_hub.utils import validate_repo_id  # type: ignore[attr-defined]

    message = f"not a Hugging Face model id (owner/name) nor a folder: {named}"
    try:
        validate_repo_id(model)
    except HFValidationError as e:
        raise ModelError(message) from e
    # Namespace-less ids were the Hub's legacy canonical models, none of them in its ONNX
    # layout: a bare word is far likelier a folder's name mistyped, so it fails at once.
    if model.count("/") != 1:
        raise ModelError(message)


def _download(repo_id: str, revision: str, onnx_name: str) -> tuple[Path, str]:
    # Imported here: the producer side never needs huggingface_hub.
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import EntryNotFoundError, HFValidationError

    paths: dict[str, Path] = {}
    for name in ("config.json", "preprocessor_config.json", onnx_name):
        try:
            paths[name] = Path(hf_hub_download(repo_id, name, revision=revision))
        except (HFValidationError, EntryNotFoundError, OSError) as e:
            raise ModelError(_download_failure(repo_id, revision, name, e)) from e
    # Graphs over 2 GB keep their weights beside them; most models have none. Asked of the Hub
    # only when the cache does not already know: huggingface_hub remembers a 404 (`.no_exist`),
    # and would otherwise retry an unreachable Hub for about 23 s on every start.
    weights = f"{onnx_name}_data"
    if try_to_load_from_cache(repo_id, weights, revision=revision) is None:
        with contextlib.suppress(EntryNotFoundError, OSError):
            hf_hub_download(repo_id, weights, revision=revision)
    root = paths["config.json"].parent
    return root, root.name  # Hub snapshots are named after the commit they hold.


def _download_failure(repo_id: str, revision: str, name: str, error: Exception) -> str:
    """One line that says which file could not be had and why; huggingface_hub's own
    messages run to several lines of advice."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        LocalEntryNotFoundError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{repo_id}@{revision}"
    if isinstance(error, RevisionNotFoundError):
        why = f"the Hub has no revision {revision!r}"
    elif isinstance(error, RepositoryNotFoundError):
        why = "no such repository, or HF_TOKEN may not read it"
    elif isinstance(error, RemoteEntryNotFoundError):
        why = f"the repository has no {name}"
    elif isinstance(error, LocalEntryNotFoundError) and constants.is_offline_mode():
        why = "HF_HUB_OFFLINE is set and the cache (HF_HOME) lacks it"
    elif isinstance(error, LocalEntryNotFoundError):
        why = f"the Hub at {constants.ENDPOINT} cannot be reached and the cache (HF_HOME) lacks it"
    else:
        why = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"
    return f"cannot fetch {name} of {where}: {why}"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot read {path.name}: {e}") from e
    if not isinstance(value, dict):
        raise ModelError(f"{path.name} is not a JSON object")
    return value
