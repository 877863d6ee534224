"""TensorRT runner (TensorRT 10 tensor API: set_tensor_address + execute_async_v3).

Needs ``tensorrt`` and ``cuda-python``. Written against the documented API; it runs only
where TensorRT exists (tests marked ``tensorrt``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .._lazy import require
from ..errors import BackendError, IntegrityError, MissingBackendError, UsageError
from ..export.tensorrt import _cudart
from .base import Runner, RunnerSettings


class TensorRTRunner(Runner):
    name = "tensorrt"

    def __init__(self, model_path: Path, *, extra_outputs: list[str] | None = None,
                 settings: RunnerSettings | None = None) -> None:
        super().__init__(extra_outputs, settings)
        self.model_path = Path(model_path)
        self._trt: Any = None
        self._cudart: Any = None

    def _activate(self) -> None:
        trt = require("tensorrt", extra="tensorrt", purpose="the tensorrt backend")
        cudart = _cudart()
        if cudart is None:
            raise MissingBackendError("the tensorrt backend needs cuda-python.", extra="tensorrt")
        self._trt, self._cudart = trt, cudart
        logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(logger)
        self.engine = self.runtime.deserialize_cuda_engine(self.model_path.read_bytes())
        if self.engine is None:
            raise IntegrityError(f"{self.model_path}: TensorRT cannot deserialize it (corrupt, "
                                 "or built by another TensorRT version or for another GPU)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        mode = trt.TensorIOMode.INPUT
        self.input_names = [n for n in names if self.engine.get_tensor_mode(n) == mode]
        self.output_names = [n for n in names if self.engine.get_tensor_mode(n) != mode]
        missing = [n for n in self.extra_outputs if n not in self.output_names]
        if missing:
            raise UsageError(f"{self.model_path}: engine has no output {missing[0]}; parity needs "
                             "an engine built with the taps marked")
        _, self.stream = cudart.cudaStreamCreate()
        self._buffers: dict[str, tuple[int, int]] = {}

    def _buffer(self, name: str, nbytes: int) -> int:
        ptr, size = self._buffers.get(name, (0, 0))
        if size < nbytes:
            if ptr:
                self._cudart.cudaFree(ptr)
            _, ptr = self._cudart.cudaMalloc(nbytes)
            self._buffers[name] = (ptr, nbytes)
        return ptr

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        trt, cudart = self._trt, self._cudart
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name in self.input_names:
            x = np.ascontiguousarray(feed[name], dtype=np.float32)
            self.context.set_input_shape(name, x.shape)
            ptr = self._buffer(name, x.nbytes)
            cudart.cudaMemcpyAsync(ptr, x.ctypes.data, x.nbytes, h2d, self.stream)
            self.context.set_tensor_address(name, ptr)
        outs: dict[str, np.ndarray] = {}
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            dtype = trt.nptype(self.engine.get_tensor_dtype(name))
            outs[name] = np.empty(shape, dtype=dtype)
            self.context.set_tensor_address(name, self._buffer(name, outs[name].nbytes))
        if not self.context.execute_async_v3(self.stream):
            raise BackendError(f"{self.model_path}: TensorRT execution failed (rerun with "
                               "--verbose to see TensorRT's log)")
        for name, arr in outs.items():
            cudart.cudaMemcpyAsync(arr.ctypes.data, self._buffers[name][0], arr.nbytes, d2h,
                                   self.stream)
        cudart.cudaStreamSynchronize(self.stream)
        return outs

    def synchronize(self) -> None:
        if self._cudart is not None:
            self._cudart.cudaStreamSynchronize(self.stream)

    def _deactivate(self) -> None:
        for ptr, _ in self._buffers.values():
            self._cudart.cudaFree(ptr)
        self._buffers = {}
        self.context = self.engine = self.runtime = None

    def versions(self) -> dict[str, Any]:
        from ..export.tensorrt import gpu_info

        return gpu_info()

    def describe(self) -> dict[str, Any]:
        return {"precision": self.settings.precision}
