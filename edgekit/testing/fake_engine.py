"""The fake TensorRT's engine and execution context: ONNX Runtime on simulated device memory."""

from __future__ import annotations

from typing import Any

import numpy as np

from .fake_cudart import IllegalAddress
from .fake_network import DT, ONNX_DT


def _session(onnx_bytes: bytes, outputs: list[str]) -> Any:
    import onnx
    import onnxruntime as ort

    model = onnx.load_from_string(onnx_bytes)
    have = {o.name for o in model.graph.output}
    for name in outputs:
        if name not in have:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


def output_shapes(onnx_bytes: bytes, inp: Any, shape: tuple[int, ...],
                  names: list[str]) -> dict[str, tuple[int, ...]]:
    """What the builder learns about output shapes: one run at the profile's MIN shape."""
    sess = _session(onnx_bytes, names)
    x = np.zeros(shape, dtype=ONNX_DT[inp.dtype][1])
    outs = sess.run(names, {inp.name: x})
    return {n: tuple(o.shape) for n, o in zip(names, outs)}


class Engine:
    def __init__(self, fake: Any, header: dict[str, Any], onnx_bytes: bytes) -> None:
        self.fake, self.header, self.onnx_bytes = fake, header, onnx_bytes
        self.io = {t["name"]: t for t in header["io"]}
        self.names = [t["name"] for t in header["io"]]
        self._sess: Any = None

    @property
    def num_io_tensors(self) -> int:
        return len(self.names)

    def get_tensor_name(self, i: int) -> str:
        return self.names[i]

    def get_tensor_mode(self, name: str) -> Any:
        return self.fake.module.TensorIOMode[self.io[name]["mode"]]

    def get_tensor_dtype(self, name: str) -> DT:
        return DT[self.io[name]["dtype"]]

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.io[name]["shape"])

    def get_tensor_profile_shape(self, name: str, profile_index: int) -> list[tuple[int, ...]]:
        if self.io[name]["mode"] != "INPUT" or profile_index != 0:
            raise ValueError("no profile shape for that tensor")
        p = self.header["profile"]
        return [tuple(p["min"]), tuple(p["opt"]), tuple(p["max"])]

    def create_execution_context(self) -> Context | None:
        return None if self.fake.fail_context else Context(self)

    def session(self) -> Any:
        if self._sess is None:
            outs = [n for n in self.names if self.io[n]["mode"] == "OUTPUT"]
            self._sess = _session(self.onnx_bytes, outs)
        return self._sess


class Context:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.addresses: dict[str, int] = {}
        self.profiler: Any = None  # an IProfiler: told each layer's time per inference

    def set_input_shape(self, name: str, shape: Any) -> bool:
        io = self.engine.io.get(name)
        shape = tuple(int(d) for d in shape)
        if io is None or io["mode"] != "INPUT" or len(shape) != len(io["shape"]):
            return False
        p = self.engine.header["profile"]
        if not all(lo <= d <= hi for d, lo, hi in zip(shape, p["min"], p["max"])):
            return False
        self.shapes[name] = shape
        return True

    def set_tensor_address(self, name: str, ptr: int) -> bool:
        if name not in self.engine.io or not ptr:
            return False
        self.addresses[name] = int(ptr)
        return True

    def _batch(self) -> int | None:
        return next(iter(self.shapes.values()))[0] if self.shapes else None

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        if name in self.shapes:
            return self.shapes[name]
        shape = list(self.engine.io[name]["shape"])
        if shape and shape[0] < 0 and self._batch() is not None:
            shape[0] = self._batch()
        return tuple(shape)

    def execute_async_v3(self, stream_handle: int) -> bool:
        eng, cudart = self.engine, self.engine.fake.cudart
        if stream_handle not in cudart.streams:
            return False
        inputs = [n for n in eng.names if eng.io[n]["mode"] == "INPUT"]
        outputs = [n for n in eng.names if eng.io[n]["mode"] == "OUTPUT"]
        if any(n not in self.shapes for n in inputs) or \
                any(n not in self.addresses for n in eng.names):
            return False  # TensorRT: every shape and address must be set
        feed = {}
        try:
            for n in inputs:
                dt = np.dtype(ONNX_DT[DT[eng.io[n]["dtype"]]][1])
                nbytes = int(np.prod(self.shapes[n])) * dt.itemsize
                feed[n] = np.frombuffer(cudart.read(self.addresses[n], nbytes),
                                        dtype=dt).reshape(self.shapes[n])
            results = eng.session().run(outputs, feed)
            for n, arr in zip(outputs, results):
                arr = np.ascontiguousarray(arr, dtype=ONNX_DT[DT[eng.io[n]["dtype"]]][1])
                if n == outputs[0] and eng.header.get("scale_output"):
                    arr = (arr * eng.header["scale_output"]).astype(arr.dtype)
                cudart.write(self.addresses[n], arr.tobytes())
        except IllegalAddress:
            return False
        if self.profiler is not None:
            import onnx

            from .fake_profiler import report

            report(self.profiler, onnx.load_from_string(eng.onnx_bytes))
        return True
