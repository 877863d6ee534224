"""A stand-in for ``cuda.bindings.runtime``: the calls edgekit makes, with cuda-python's
``(err, value...)`` result tuples, simulated device memory with bounds checks, and failures
that a test can inject (``cudart.fail("cudaMalloc")``)."""

from __future__ import annotations

import ctypes
import enum
from dataclasses import dataclass
from typing import Any


class cudaError_t(enum.IntEnum):  # noqa: N801 - cuda-python's name
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorMemoryAllocation = 2
    cudaErrorInvalidResourceHandle = 400
    cudaErrorIllegalAddress = 700


#: the name annotations use: inside FakeCudart's body, ``cudaError_t`` is its class attribute
CudaError = cudaError_t


class cudaMemcpyKind(enum.IntEnum):  # noqa: N801
    cudaMemcpyHostToHost = 0
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2
    cudaMemcpyDeviceToDevice = 3


class IllegalAddress(Exception):
    """A read or write outside every device allocation (a kernel would fault)."""


@dataclass
class _Props:
    name: bytes
    major: int
    minor: int


class FakeCudart:
    """Module-like object: install it as ``cuda.bindings.runtime``."""

    cudaError_t = cudaError_t
    cudaMemcpyKind = cudaMemcpyKind

    def __init__(self, *, gpu: str = "Fake Orin", cc: tuple[int, int] = (8, 7),
                 runtime_version: int = 12060) -> None:
        self.gpu, self.cc, self.runtime_version = gpu, cc, runtime_version
        self.memory: dict[int, bytearray] = {}
        self.streams: set[int] = set()
        self._next = 0x7F00_0000_0000
        self._failures: dict[str, list[int]] = {}
        self.calls: list[str] = []

    # fault injection -------------------------------------------------------------------
    def fail(self, name: str, code: int = cudaError_t.cudaErrorMemoryAllocation,
             times: int = 1) -> None:
        self._failures.setdefault(name, []).extend([int(code)] * times)

    def _err(self, name: str) -> CudaError:
        self.calls.append(name)
        queue = self._failures.get(name)
        return cudaError_t(queue.pop(0)) if queue else cudaError_t.cudaSuccess

    # device memory -----------------------------------------------------------------------
    def _find(self, ptr: int, n: int) -> tuple[bytearray, int]:
        for base, buf in self.memory.items():
            if base <= ptr < base + max(len(buf), 1):
                off = ptr - base
                if off + n > len(buf):
                    raise IllegalAddress(f"{n} bytes at +{off} overrun a {len(buf)}-byte buffer")
                return buf, off
        raise IllegalAddress(f"address {ptr:#x} is in no allocation")

    def read(self, ptr: int, n: int) -> bytes:
        buf, off = self._find(int(ptr), n)
        return bytes(buf[off:off + n])

    def write(self, ptr: int, data: bytes) -> None:
        buf, off = self._find(int(ptr), len(data))
        buf[off:off + len(data)] = data

    @property
    def live_allocations(self) -> int:
        return len(self.memory)

    # the cuda-python API -------------------------------------------------------------------
    def cudaGetErrorName(self, err: Any) -> tuple[CudaError, bytes]:
        return cudaError_t.cudaSuccess, cudaError_t(int(err)).name.encode()

    def cudaGetDeviceProperties(self, device: int) -> tuple[CudaError, Any]:
        return self._err("cudaGetDeviceProperties"), _Props(self.gpu.encode(), *self.cc)

    def cudaRuntimeGetVersion(self) -> tuple[CudaError, int]:
        return self._err("cudaRuntimeGetVersion"), self.runtime_version

    def cudaMalloc(self, n: int) -> tuple[CudaError, int]:
        err = self._err("cudaMalloc")
        if err:
            return err, 0
        ptr = self._next
        self._next += (int(n) + 0xFFFF) & ~0xFFFF or 0x10000
        self.memory[ptr] = bytearray(int(n))
        return err, ptr

    def cudaFree(self, ptr: int) -> tuple[CudaError]:
        err = self._err("cudaFree")
        if not err and self.memory.pop(int(ptr), None) is None:
            err = cudaError_t.cudaErrorInvalidValue
        return (err,)

    def _copy(self, name: str, dst: int, src: int, n: int, kind: Any) -> tuple[CudaError]:
        err = self._err(name)
        if err:
            return (err,)
        try:
            if int(kind) == cudaMemcpyKind.cudaMemcpyHostToDevice:
                self.write(dst, ctypes.string_at(src, n))
            elif int(kind) == cudaMemcpyKind.cudaMemcpyDeviceToHost:
                ctypes.memmove(dst, self.read(src, n), n)
            else:
                return (cudaError_t.cudaErrorInvalidValue,)
        except IllegalAddress:
            return (cudaError_t.cudaErrorInvalidValue,)
        return (err,)

    def cudaMemcpy(self, dst: int, src: int, n: int, kind: Any) -> tuple[CudaError]:
        return self._copy("cudaMemcpy", dst, src, n, kind)

    def cudaMemcpyAsync(self, dst: int, src: int, n: int, kind: Any,
                        stream: int) -> tuple[CudaError]:
        if stream not in self.streams:
            return (cudaError_t.cudaErrorInvalidResourceHandle,)
        return self._copy("cudaMemcpyAsync", dst, src, n, kind)

    def cudaStreamCreate(self) -> tuple[CudaError, int]:
        err = self._err("cudaStreamCreate")
        if err:
            return err, 0
        handle = 0x5000 + len(self.calls)
        self.streams.add(handle)
        return err, handle

    def cudaStreamDestroy(self, stream: int) -> tuple[CudaError]:
        err = self._err("cudaStreamDestroy")
        if not err and stream not in self.streams:
            err = cudaError_t.cudaErrorInvalidResourceHandle
        self.streams.discard(stream)
        return (err,)

    def cudaStreamSynchronize(self, stream: int) -> tuple[CudaError]:
        err = self._err("cudaStreamSynchronize")
        if not err and stream not in self.streams:
            err = cudaError_t.cudaErrorInvalidResourceHandle
        return (err,)
