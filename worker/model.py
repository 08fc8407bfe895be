"""The ONNX graph: one warm ONNX Runtime session, its labels and the inputs it declares."""

from __future__ import annotations

import mmap
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from producer.errors import ModelError
from producer.settings import MemoryArena
from worker.hub import ModelFiles
from worker.providers import choose_providers, device_of

if TYPE_CHECKING:
    import onnxruntime as ort

#: ONNX element types this project feeds, mapped to numpy.
_NUMPY_TYPES: dict[str, type[np.generic]] = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


@dataclass(frozen=True)
class SessionOptions:
    """How to run the graph: providers in order of preference (and whether a missing one falls
    back rather than fails), CPU threads, memory policy, and I/O binding."""

    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    intra_op_threads: int = 0  # 0: ONNX Runtime's choice, one per core
    #: What ONNX Runtime does with a model call's memory once it returns: ``keep`` holds it in
    #: its arena (ONNX Runtime's default: a worker then holds its largest call's activations
    #: for ever), ``shrink`` hands the arena's free chunks back after every call (every call
    #: then pays to fault its activations in afresh: 5 % of wav2vec2-base's clips/s),
    #: ``adaptive`` keeps them while calls repeat the shapes of the call before (steady traffic
    #: reuses them) and hands them back after a call whose shapes changed (mixed traffic is
    #: bounded as by ``shrink``), ``off`` uses no arena.
    memory_arena: MemoryArena = "adaptive"
    provider_fallback: bool = False
    #: Bind inputs as device tensors (one copy to the device per call); None: on a GPU only.
    io_binding: bool | None = None


class OnnxModel:
    """An audio classification graph in its session, with its labels; :meth:`run` makes one
    model call on its features."""

    def __init__(self, files: ModelFiles, options: SessionOptions | None = None) -> None:
        # Imported here so that importing the pipeline stays cheap and the producer never needs it.
        import onnxruntime as ort

        options = options or SessionOptions()
        providers = choose_providers(
            options.providers,
            ort.get_available_providers(),
            fallback=options.provider_fallback,
            where=f"onnxruntime {ort.__version__}",
        )
        started = time.perf_counter()
        self._session = _session(files, options, providers)
        #: Seconds ONNX Runtime took to load and optimise the graph.
        self.load_s = time.perf_counter() - started
        #: The providers the session runs on, in order.
        self.providers = choose_providers(
            providers,
            self._session.get_providers(),
            fallback=options.provider_fallback,
            where="this session",  # a GPU build without a usable device lands here
        )
        self._arena = ArenaPolicy(options.memory_arena)
        self._device = device_of(self.providers)
        binding = options.io_binding
        self._io_binding = self._device != "cpu" if binding is None else binding
        self._input_types = {i.name: i.type for i in self._session.get_inputs()}
        self.labels = labels_from_config(files.config)
        self.problem_type: str | None = files.config.get("problem_type")
        self._check_logits()
        self._has_dynamic_quantization = _has_dynamic_quantization(str(files.onnx_path))

    @property
    def input_names(self) -> tuple[str, ...]:
        """The inputs the graph declares, in its order."""
        return tuple(self._input_types)

    @property
    def takes_attention_mask(self) -> bool:
        """Whether the graph declares an ``attention_mask`` input."""
        return "attention_mask" in self._input_types

    @property
    def quantizes_activations(self) -> bool:
        """Whether the graph quantizes activations at run time (int8 dynamic quantization).

        Such a graph scales each activation tensor by its min and max over the whole batch, so a
        clip's scores depend on what it is batched with: it must run one clip per call to give
        the same answer in any batch.
        """
        return self._has_dynamic_quantization

    def run(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Logits, shape (batch, labels), for features holding at least the declared inputs."""
        feeds = {name: _cast(features, name, kind) for name, kind in self._input_types.items()}
        if self._io_binding:
            return self._run_bound(feeds)
        (logits,) = self._session.run(["logits"], feeds, self._arena.run_options(feeds))
        return np.asarray(logits, dtype=np.float32)

    def _run_bound(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        # Each input crosses to the device once, as one OrtValue; only the logits come back.
        import onnxruntime as ort

        binding = self._session.io_binding()
        for name, array in feeds.items():
            value = ort.OrtValue.ortvalue_from_numpy(array, self._device, 0)
            binding.bind_ortvalue_input(name, value)
        binding.bind_output("logits", "cpu")
        self._session.run_with_iobinding(binding, self._arena.run_options(feeds))
        (logits,) = binding.copy_outputs_to_cpu()
        return np.asarray(logits, dtype=np.float32)

    def _check_logits(self) -> None:
        outputs = {o.name: o.shape for o in self._session.get_outputs()}
        if "logits" not in outputs:
            raise ModelError(f"graph has no 'logits' output (it has {', '.join(outputs)})")
        width = outputs["logits"][-1]
        if isinstance(width, int) and width != len(self.labels):
            raise ModelError(f"graph gives {width} logits but config.json has {len(self.labels)}")


class ArenaPolicy:
    """The run options of each call: whether ONNX Runtime shrinks its arena when it returns."""

    def __init__(self, policy: MemoryArena) -> None:
        import onnxruntime as ort

        self._policy = policy
        self._keep = ort.RunOptions()
        self._shrink = ort.RunOptions()
        self._shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self._last_shapes: tuple[tuple[int, ...], ...] | None = None

    def run_options(self, feeds: Mapping[str, np.ndarray]) -> ort.RunOptions:
        """Options for a call on `feeds`, the call before it being the last one asked about."""
        shapes = tuple(array.shape for array in feeds.values())
        repeated, self._last_shapes = shapes == self._last_shapes, shapes
        if self._policy == "shrink" or (self._policy == "adaptive" and not repeated):
            return self._shrink
        return self._keep


def _session(
    files: ModelFiles, options: SessionOptions, providers: tuple[str, ...]
) -> ort.InferenceSession:
    import onnxruntime as ort

    session_options = ort.SessionOptions()
    session_options.intra_op_num_threads = options.intra_op_threads
    session_options.inter_op_num_threads = 1
    session_options.enable_cpu_mem_arena = options.memory_arena != "off"
    try:
        return ort.InferenceSession(
            str(files.onnx_path), session_options, providers=list(providers)
        )
    except Exception as e:  # ORT raises its own untyped errors for unreadable graphs.
        raise ModelError(f"cannot load {files.onnx_path.name}: {e}") from e


def labels_from_config(config: Mapping[str, Any]) -> list[str]:
    """Labels in id order from ``config.json``'s ``id2label``."""
    id2label = config.get("id2label")
    if not isinstance(id2label, Mapping) or not id2label:
        raise ModelError("config.json has no id2label")
    try:
        by_id = {int(key): str(value) for key, value in id2label.items()}
    except ValueError as e:
        raise ModelError("config.json's id2label has a key that is not an integer") from e
    if sorted(by_id) != list(range(len(by_id))):
        raise ModelError("config.json's id2label ids are not 0..n-1")
    num_labels = config.get("num_labels")
    if isinstance(num_labels, int) and num_labels != len(by_id):
        raise ModelError(f"config.json says num_labels={num_labels} but lists {len(by_id)}")
    return [by_id[i] for i in range(len(by_id))]


def _cast(features: Mapping[str, np.ndarray], name: str, kind: str) -> np.ndarray:
    if name not in features:
        raise ModelError(f"graph wants input {name!r}, features give {', '.join(features)}")
    dtype = _NUMPY_TYPES.get(kind)
    if dtype is None:
        raise ModelError(f"graph input {name!r} has unsupported type {kind}")
    return np.ascontiguousarray(features[name], dtype=dtype)


def _has_dynamic_quantization(path: str) -> bool:
    # ONNX Runtime exposes no node list; op types are plain strings in the protobuf, so a byte
    # search finds them without parsing (or depending on) the onnx package. Mapped, not read: a
    # copy of a 360 MB wav2vec2-base graph cost 0.5-0.9 s of start-up.
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as blob:
        return blob.find(b"DynamicQuantizeLinear") >= 0 or blob.find(b"DynamicQuantizeMatMul") >= 0
