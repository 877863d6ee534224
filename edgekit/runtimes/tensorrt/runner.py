"""TensorRT runner (tensor API of 10 and 11: set_tensor_address + execute_async_v3).

Needs ``tensorrt`` and ``cuda-python``. Input and output dtypes come from the engine (a
strongly typed engine may take or give fp16); every TensorRT and CUDA result is checked.
CI drives it through the stand-in :mod:`edgekit.testing.fake_tensorrt`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import BackendError, IntegrityError, UsageError
from ..base import Runner, RunnerSettings


class TensorRTRunner(Runner):
    name = "tensorrt"

    def __init__(self, model_path: Path, *, extra_outputs: list[str] | None = None,
                 settings: RunnerSettings | None = None) -> None:
        super().__init__(extra_outputs, settings)
        self.model_path = Path(model_path)
        self._trt: Any = None
        self.device: Any = None
        self.engine: Any = None
        self.context: Any = None
        self.runtime: Any = None
        self.dtypes: dict[str, np.dtype[Any]] = {}

    def _activate(self) -> None:
        from . import Device, require_trt
        from .cuda import require_cudart

        trt = require_trt()
        cudart = require_cudart("the tensorrt backend")
        self._trt = trt
        logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(logger)
        self.engine = self.runtime.deserialize_cuda_engine(self.model_path.read_bytes())
        if self.engine is None:
            raise IntegrityError(f"{self.model_path}: TensorRT cannot deserialize it (corrupt, "
                                 "or built by another TensorRT version or for another GPU)")
        self.context = self.engine.create_execution_context()
        if self.context is None:
            raise BackendError(f"{self.model_path}: TensorRT could not create an "
                                      "execution context (out of GPU memory?)")
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        mode = trt.TensorIOMode.INPUT
        self.input_names = [n for n in names if self.engine.get_tensor_mode(n) == mode]
        self.output_names = [n for n in names if self.engine.get_tensor_mode(n) != mode]
        missing = [n for n in self.extra_outputs if n not in self.output_names]
        if missing:
            raise UsageError(f"{self.model_path}: engine has no output {missing[0]}; parity needs "
                             "an engine built with the taps marked")
        self.dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        self.device = Device(cudart)

    def input_shape(self) -> list[Any]:
        """The first input's shape: dynamic dims other than the batch take the profile's OPT."""
        name = self.input_names[0]
        shape = list(self.engine.get_tensor_shape(name))
        opt = list(self.engine.get_tensor_profile_shape(name, 0)[1]) if -1 in shape else shape
        return [d if d >= 0 or i == 0 else opt[i] for i, d in enumerate(shape)]

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        dev, ctx = self.device, self.context
        for name in self.input_names:
            if name not in feed:
                raise UsageError(f"no input '{name}' given to the TensorRT engine")
            x = np.ascontiguousarray(feed[name], dtype=self.dtypes[name])
            if not ctx.set_input_shape(name, tuple(x.shape)):
                raise UsageError(f"input {name} of shape {tuple(x.shape)} is outside the "
                                 "engine's optimization profile")
            ptr = dev.buffer(name, x.nbytes)
            dev.to_device(ptr, x)
            if not ctx.set_tensor_address(name, ptr):
                raise BackendError(f"TensorRT refused the address of input {name}")
        outs: dict[str, np.ndarray] = {}
        for name in self.output_names:
            shape = tuple(ctx.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                raise BackendError(f"TensorRT could not resolve the shape of {name}")
            outs[name] = np.empty(shape, dtype=self.dtypes[name])
            if not ctx.set_tensor_address(name, dev.buffer(name, outs[name].nbytes)):
                raise BackendError(f"TensorRT refused the address of output {name}")
        if not ctx.execute_async_v3(dev.stream):
            raise BackendError(f"{self.model_path}: TensorRT execution failed (rerun with "
                               "--verbose to see TensorRT's log)")
        for name, arr in outs.items():
            dev.to_host(arr, dev.buffer(name, arr.nbytes))
        dev.sync()
        return outs

    def synchronize(self) -> None:
        if self.device is not None:
            self.device.sync()

    def _deactivate(self) -> None:
        self.context = self.engine = self.runtime = None  # before the memory they use
        if self.device is not None:
            self.device.close()
        self.device = None

    def versions(self) -> dict[str, Any]:
        from . import gpu_info

        return gpu_info()

    def describe(self) -> dict[str, Any]:
        # the engine's float layers run as it was built (the profile's policy, by the builder)
        return {"precision": self.settings.precision,
                "float_precision_policy": self.settings.float_precision,
                "inference_precision": self.settings.float_precision}
