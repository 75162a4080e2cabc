"""The tflite runtime: a model loaded once and run on its own worker thread, with its timings.

``ai-edge-litert`` is the runtime (numpy 2, Python 3.10-3.14, quantised kernels several times faster);
``tflite-runtime`` 2.14 is the fallback (numpy < 2, Python <= 3.11, the only one on a 32-bit OS). Both load
the same ``.tflite`` files; every shipped model is tested in both (tests/vision/test_runtimes.py).

Each model has one worker thread (an interpreter is not to be invoked from two threads at once): a frame's
face search and its MRZ recognition run side by side on two cores instead of queueing behind each other
(``invoke`` and Pillow's resizing release the GIL). ``Model.call`` hands a whole frame's work for a model to
its thread in one go, not one hand-over per inference. A frame's lines (``Model.run_each``) can be spread over
the model and its twin, a second interpreter of the same model on a thread of its own, on a machine with cores
to spare.

    >>> model = Model.load(MODELS_DIR / "face_detection_short_range.tflite")
    >>> outputs = model.run(np.zeros(model.input_shape, np.float32))
    >>> model.stats()["p50_ms"]
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

# agent/vision/models: in a checkout a symlink to the repository's models/, in a wheel the files themselves
MODELS_DIR = Path(os.environ.get("SHARAKA_MODELS") or Path(__file__).resolve().parent / "models")
LATENCIES_KEPT = 256
T = TypeVar("T")


class VisionUnavailableError(RuntimeError):
    """No tflite runtime is installed, or a model file is missing or not a tflite model."""


def _interpreter_class() -> tuple[Any, str]:
    try:
        from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-not-found]

        return Interpreter, "ai-edge-litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[import-not-found]

        return Interpreter, "tflite-runtime"
    except ImportError:
        raise VisionUnavailableError(
            "no tflite runtime: install ai-edge-litert (or tflite-runtime 2.14 on a 32-bit OS)"
        ) from None


def runtime_name() -> str:
    """Which runtime ``Model.load`` uses here; VisionUnavailableError when there is none."""
    return _interpreter_class()[1]


class Model:
    """A loaded tflite model with one input; ``run`` executes it on the model's worker thread."""

    def __init__(self, interpreter: Any, path: Path, load_ms: float, runtime: str,
                 reopen: Callable[[], Any] | None = None, timings: _Timings | None = None) -> None:  # fmt: skip
        self._it = interpreter
        self._reopen = reopen  # another interpreter of the same model, for the twin
        self._twin: Model | None = None
        self._twin_lock = threading.Lock()  # not the timings' lock: a twin's loading would hold up every inference's timing
        self.path = path
        self.file = path.resolve()  # the file, however ``path`` names it: compared on every frame (mrz_read._other_models)
        self.load_ms = load_ms
        self.runtime = runtime
        inp = interpreter.get_input_details()[0]
        self._input = inp["index"]
        self.input_shape = tuple(int(d) for d in inp["shape"])
        self.input_dtype = np.dtype(inp["dtype"])
        # an int8 model (activations quantised too) takes its input as integers: x / scale + zero point
        scale, zero = inp.get("quantization", (0.0, 0))
        self.input_quantisation = (float(scale), int(zero)) if self.input_dtype.kind in "iu" and scale else None
        self._outputs = [d["index"] for d in interpreter.get_output_details()]
        self._timings = timings or _Timings()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"vision-{path.stem}")
        self._worker_ident: int | None = None  # the worker thread, once it has started

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` run on this model's worker thread (directly when already on it): a whole frame's work
        for this model in one hand-over, not one per inference (each hand-over costs two thread wake-ups,
        which on a busy machine cost more than the inference)."""
        if threading.get_ident() == self._worker_ident:
            return fn(*args)
        return self.submit(fn, *args).result()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """``call`` started, not waited for: two models' work on two cores at once, each on its own thread
        (from any thread but this model's own worker, which would wait for itself)."""
        return self._worker.submit(self._on_worker, fn, *args)

    def _on_worker(self, fn: Callable[..., T], *args: Any) -> T:
        self._worker_ident = threading.get_ident()
        return fn(*args)

    @classmethod
    def load(cls, path: str | Path, threads: int = 1, *, content: bytes | None = None,
             input_shape: tuple[int, ...] | None = None) -> Model:  # fmt: skip
        """Load and prepare ``path`` (or ``content``, the model's bytes as altered by the caller, named by
        ``path``), its input resized to ``input_shape`` if given; VisionUnavailableError names the file when
        it cannot be used."""
        path = Path(path)
        interpreter_class, runtime = _interpreter_class()

        def opened() -> Any:
            try:
                if content is None:
                    interpreter = interpreter_class(model_path=str(path), num_threads=threads)
                else:
                    interpreter = interpreter_class(model_content=content, num_threads=threads)
                if input_shape is not None:
                    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], list(input_shape))
                interpreter.allocate_tensors()
            except (ValueError, RuntimeError, OSError) as exc:
                raise VisionUnavailableError(f"model {str(path)!r} cannot be loaded: {exc}") from None
            return interpreter

        t0 = time.perf_counter()
        interpreter = opened()
        return cls(interpreter, path, (time.perf_counter() - t0) * 1000, runtime, opened)

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Outputs for input ``x`` (of ``input_shape``), computed on the model's worker thread."""
        if tuple(x.shape) != self.input_shape:
            raise ValueError(f"model {self.path.name} takes shape {self.input_shape}, not {tuple(x.shape)}")
        return self.call(self._invoke, self._ready(x))

    def run_each(self, xs: list[np.ndarray], spread: bool = False) -> list[list[np.ndarray]]:
        """Outputs for each input of ``xs`` (each of ``input_shape``): one hand-over to the model's worker
        thread for all of them (the lines of a page), not one per input; ``spread``: every other input on the
        model's twin meanwhile, when it has one (``twin``)."""
        for x in xs:
            if tuple(x.shape) != self.input_shape:
                raise ValueError(f"model {self.path.name} takes shape {self.input_shape}, not {tuple(x.shape)}")
        ready = [self._ready(x) for x in xs]
        twin = self.twin() if spread and len(ready) > 1 else None
        if twin is None:
            return self.call(lambda: [self._invoke(x) for x in ready])
        theirs = twin.submit(lambda: [twin._invoke(x) for x in ready[1::2]])
        outs = self.call(lambda: [self._invoke(x) for x in ready[0::2]])
        for k, out in enumerate(theirs.result()):  # every other input, back in its place
            outs.insert(2 * k + 1, out)
        return outs

    def twin(self) -> Model | None:
        """A second interpreter of this model on its own worker thread, made when first asked, its runs counted
        in this model's stats: ``run_each`` reads a frame's lines on two cores at once (the camera gate's
        frame -> decision, 300 frames: docs/vision.md). None where this process may run on one core only (its
        CPU affinity, as systemd's ``CPUAffinity=`` or ``taskset`` set it), for a twin, and when a
        second interpreter cannot be made (the lines are then read on this one)."""
        with self._twin_lock:
            if self._twin is None and self._reopen is not None and len(os.sched_getaffinity(0)) > 1:
                try:
                    self._twin = Model(self._reopen(), self.path, self.load_ms, self.runtime, timings=self._timings)
                except VisionUnavailableError:
                    self._reopen = None
            return self._twin

    def _ready(self, x: np.ndarray) -> np.ndarray:
        """``x`` in the model's input type: quantised by the input's scale and zero point for an int8 model."""
        if self.input_quantisation is None or x.dtype == self.input_dtype:
            return x.astype(self.input_dtype, copy=False)
        scale, zero = self.input_quantisation
        info = np.iinfo(self.input_dtype)
        return np.clip(np.rint(x / np.float32(scale)) + zero, info.min, info.max).astype(self.input_dtype)

    def _invoke(self, x: np.ndarray) -> list[np.ndarray]:
        t0 = time.perf_counter()
        self._it.set_tensor(self._input, x)
        self._it.invoke()
        out = [np.array(self._it.get_tensor(i)) for i in self._outputs]
        self._timings.add((time.perf_counter() - t0) * 1000)
        return out

    def stats(self) -> dict[str, Any]:
        """Model file, runtime, load time, per-inference latency (last 256 runs) and interpreters (2 with its
        twin) for status."""
        with self._timings.lock:
            lat = sorted(self._timings.latencies)
            runs = self._timings.runs
        pick = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 3)) if lat else (lambda q: None)
        return {
            "model": self.path.name, "runtime": self.runtime, "load_ms": round(self.load_ms, 3),
            "runs": runs, "p50_ms": pick(0.5), "p99_ms": pick(0.99), "interpreters": 1 + (self._twin is not None),
        }  # fmt: skip


class _Timings:
    """A model's per-inference latencies (the last LATENCIES_KEPT) and run count, shared with its twin."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: collections.deque[float] = collections.deque(maxlen=LATENCIES_KEPT)
        self.runs = 0

    def add(self, ms: float) -> None:
        with self.lock:
            self.latencies.append(ms)
            self.runs += 1


_loaded: dict[Path, Model] = {}
_loaded_lock = threading.Lock()


def shared_model(name: str) -> Model:
    """The model ``models/NAME``, loaded once per process."""
    path = MODELS_DIR / name
    with _loaded_lock:
        if path not in _loaded:
            if not path.exists():
                raise VisionUnavailableError(f"model file {str(path)!r} is missing")
            _loaded[path] = Model.load(path)
        return _loaded[path]


def loaded_stats() -> list[dict[str, Any]]:
    """``stats()`` of every model loaded in this process (for the gate's status)."""
    with _loaded_lock:
        return [m.stats() for m in _loaded.values()]
