"""Execution providers: the ones asked for, checked against what ONNX Runtime can give."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from producer.errors import ConfigError

log = logging.getLogger(__name__)

#: The provider every onnxruntime build has, and what a fallback runs on when nothing else is left.
CPU = "CPUExecutionProvider"

#: Where each provider wants its inputs, as ``OrtValue`` device names; any other reads host memory.
_DEVICES: dict[str, str] = {
    "CUDAExecutionProvider": "cuda",
    "TensorrtExecutionProvider": "cuda",
}


def choose_providers(
    wanted: Sequence[str], present: Sequence[str], *, fallback: bool, where: str
) -> tuple[str, ...]:
    """`wanted` where every one is `present`; else, with `fallback`, those that are (CPU when none
    is) and a logged warning, without it a ConfigError naming what is missing."""
    missing = [name for name in wanted if name not in present]
    if not missing:
        return tuple(wanted)
    if not fallback:
        raise ConfigError(
            f"EARMARK_PROVIDERS asks for {', '.join(missing)}, which {where} lacks (it has "
            f"{', '.join(present) or 'none'}); install onnxruntime-gpu (docs/gpu.md) or set "
            "EARMARK_PROVIDER_FALLBACK=true to run on what there is"
        )
    kept = tuple(name for name in wanted if name in present) or (CPU,)
    log.warning(
        "earmark: %s lacks %s; falling back to %s", where, ", ".join(missing), ", ".join(kept)
    )
    return kept


def device_of(providers: Sequence[str]) -> str:
    """The ``OrtValue`` device the first provider reads its inputs from: ``cuda`` or ``cpu``."""
    return _DEVICES.get(providers[0], "cpu") if providers else "cpu"
