"""CUDA through cuda-python, every result checked, and what GPU this is.

cuda-python returns ``(err, value...)`` tuples and raises nothing: an unchecked call turns a
failure into garbage later. :func:`check` unpacks a result or raises one clear error, the way
NVIDIA's Python samples wrap every call."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import BackendError, MissingBackendError


def cudart_module() -> Any:
    """``cuda.bindings.runtime`` (cuda-python >= 12.6), ``cuda.cudart`` before it, or None."""
    try:
        from cuda.bindings import runtime as cudart

        return cudart
    except ImportError:
        try:
            from cuda import cudart

            return cudart
        except ImportError:
            return None


def require_cudart(purpose: str) -> Any:
    cudart = cudart_module()
    if cudart is None:
        raise MissingBackendError(f"{purpose} needs cuda-python.", extra="tensorrt")
    return cudart


def check(cudart: Any, result: Any, what: str) -> Any:
    """The value(s) of a cuda-python call, or BackendError (exit 3) naming the CUDA error."""
    err, rest = result[0], tuple(result[1:])
    code = int(err)
    if code:
        name = ""
        try:
            e2, raw = cudart.cudaGetErrorName(err)
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
        except Exception:  # noqa: BLE001 - the name is a courtesy; the code is the fact
            pass
        raise BackendError(f"CUDA call {what} failed: {name or 'error'} ({code})")
    if not rest:
        return None
    return rest[0] if len(rest) == 1 else rest


class Device:
    """Device buffers and one stream, each freed on :meth:`close` (or on leaving ``with``)."""

    def __init__(self, cudart: Any) -> None:
        self.cudart = cudart
        self.stream = check(cudart, cudart.cudaStreamCreate(), "cudaStreamCreate")
        self._buffers: dict[str, tuple[int, int]] = {}

    def buffer(self, key: str, nbytes: int) -> int:
        """A device buffer of at least ``nbytes`` for ``key`` (grown, never shrunk)."""
        ptr, size = self._buffers.get(key, (0, 0))
        if size < nbytes:
            if ptr:
                check(self.cudart, self.cudart.cudaFree(ptr), "cudaFree")
                del self._buffers[key]
            ptr = int(check(self.cudart, self.cudart.cudaMalloc(max(nbytes, 1)), "cudaMalloc"))
            self._buffers[key] = (ptr, nbytes)
        return ptr

    def to_device(self, ptr: int, x: np.ndarray) -> None:
        kind = self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        check(self.cudart, self.cudart.cudaMemcpyAsync(ptr, x.ctypes.data, x.nbytes, kind,
                                                       self.stream), "cudaMemcpyAsync (to GPU)")

    def to_host(self, x: np.ndarray, ptr: int) -> None:
        kind = self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        check(self.cudart, self.cudart.cudaMemcpyAsync(x.ctypes.data, ptr, x.nbytes, kind,
                                                       self.stream), "cudaMemcpyAsync (to host)")

    def sync(self) -> None:
        check(self.cudart, self.cudart.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")

    def close(self) -> None:
        bufs, self._buffers = self._buffers, {}
        stream, self.stream = self.stream, None
        for ptr, _ in bufs.values():
            check(self.cudart, self.cudart.cudaFree(ptr), "cudaFree")
        if stream is not None:
            check(self.cudart, self.cudart.cudaStreamDestroy(stream), "cudaStreamDestroy")

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def gpu_info() -> dict[str, Any]:
    """TensorRT version and major, CUDA runtime major, GPU name and compute capability; on a
    Jetson the L4T release and the JetPack version (they are different numbers)."""
    from ...hostinfo import jetson_info
    from .settings import major_of

    info: dict[str, Any] = {}
    try:
        import tensorrt as trt

        info["tensorrt"] = trt.__version__
        info["tensorrt_major"] = major_of(trt.__version__)
    except ImportError:
        pass
    cudart = cudart_module()
    if cudart is not None:
        err, prop = cudart.cudaGetDeviceProperties(0)
        if int(err) == 0:
            name = prop.name
            info["gpu"] = (name.decode(errors="replace").strip("\x00") if isinstance(name, bytes)
                           else str(name))
            info["compute_capability"] = f"{prop.major}.{prop.minor}"
        err, rt = cudart.cudaRuntimeGetVersion()
        if int(err) == 0:
            info["cuda_runtime"] = f"{rt // 1000}.{rt % 1000 // 10}"
            info["cuda_major"] = rt // 1000
    jet = jetson_info()
    if jet:
        info["l4t"] = jet.get("l4t")
        if jet.get("jetpack"):
            info["jetpack"] = jet["jetpack"]
    return info
