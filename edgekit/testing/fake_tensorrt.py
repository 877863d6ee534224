"""A stand-in TensorRT for CI, faithful where edgekit's bugs would hide.

``install(monkeypatch, major=10)`` puts a fake ``tensorrt`` (10.3 or 11.1) and a fake
``cuda.bindings.runtime`` into ``sys.modules``. What it models:

* both majors' Python API as edgekit uses it. 10 has the precision API (BuilderFlag.FP16 /
  INT8 / OBEY_PRECISION_CONSTRAINTS, ``ILayer.precision`` and ``set_output_type``,
  ``IInt8EntropyCalibrator2``, ``config.int8_calibrator``); in 11 those do not exist and
  touching them raises AttributeError, as in the real bindings;
* the ONNX parser: one layer per node, named after it, with the node's real output count and
  dtypes (TopK: float values and int32 indices), int and shape tensors marked;
* build-time rules: a precision on a layer with int or shape-tensor input fails the build
  under OBEY; typing TopK's index output fails it; a profile that contradicts a static input
  dim fails it; TF32 is on until cleared; a timing cache from another version or GPU is
  refused by ``set_timing_cache``; implicit INT8 calibrates from the calibration profile's
  OPT batch, reading that many bytes from the calibrator's device pointer;
* engines: the plan carries what was built (flags, pins, calibration digest, I/O) and the
  ONNX; an execution context runs it with ONNX Runtime on simulated device memory, so
  parity numbers are real numbers; a plan from another version or GPU does not deserialize.
"""

from __future__ import annotations

import enum
import hashlib
import importlib.machinery
import json
import sys
import types
from pathlib import Path
from typing import Any, cast

import numpy as np

from .fake_cudart import FakeCudart, IllegalAddress
from .fake_network import DT, ONNX_DT, Network, is_float, parse_onnx

MAGIC = b"FAKEPLAN"
VERSIONS = {10: "10.3.0", 11: "11.1.0"}


class Logger:
    INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

    def __init__(self, severity: int = 2) -> None:
        self.severity = severity


class MemoryPoolType(enum.IntEnum):
    WORKSPACE = 0


class TensorIOMode(enum.IntEnum):
    NONE, INPUT, OUTPUT = range(3)


def _builder_flags(major: int) -> type[enum.IntEnum]:
    names = ["TF32", "DEBUG", "GPU_FALLBACK", "REFIT", "SPARSE_WEIGHTS"]
    if major < 11:
        names += ["FP16", "INT8", "BF16", "FP8", "OBEY_PRECISION_CONSTRAINTS",
                  "PREFER_PRECISION_CONSTRAINTS", "DIRECT_IO"]
    # the functional API with a computed member list: a class that mypy cannot spell out
    return cast("type[enum.IntEnum]", enum.IntEnum("BuilderFlag", names))


class TimingCache:
    def __init__(self, version: str, cc: str, entries: int = 0) -> None:
        self.version, self.cc, self.entries = version, cc, entries

    def serialize(self) -> bytes:
        return f"FAKETC|{self.version}|{self.cc}|{self.entries}".encode()


class OptimizationProfile:
    def __init__(self) -> None:
        self.shapes: dict[str, tuple[tuple[int, ...], ...]] = {}

    def set_shape(self, name: str, min: Any, opt: Any, max: Any) -> None:  # noqa: A002
        self.shapes[name] = (tuple(min), tuple(opt), tuple(max))


class _ConfigBase:
    __slots__ = ("fake", "flags", "profiles", "pool", "builder_optimization_level", "cache")

    def __init__(self, fake: FakeTensorRT) -> None:
        self.fake = fake
        self.flags = {fake.module.BuilderFlag.TF32}  # TF32 is on by default
        self.profiles: list[OptimizationProfile] = []
        self.pool: dict[Any, int] = {}
        self.builder_optimization_level = 3
        self.cache: TimingCache | None = None

    def set_memory_pool_limit(self, pool: Any, size: int) -> None:
        self.pool[pool] = size

    def set_flag(self, flag: Any) -> None:
        self.flags.add(flag)

    def clear_flag(self, flag: Any) -> None:
        self.flags.discard(flag)

    def get_flag(self, flag: Any) -> bool:
        return flag in self.flags

    def add_optimization_profile(self, profile: OptimizationProfile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def create_timing_cache(self, blob: bytes) -> TimingCache | None:
        raw = bytes(blob)
        if not raw:
            return TimingCache(self.fake.version, self.fake.cc)
        parts = raw.split(b"|")
        if len(parts) != 4 or parts[0] != b"FAKETC":
            return None  # corrupt
        return TimingCache(parts[1].decode(), parts[2].decode(), int(parts[3]))

    def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
        if cache is None:
            return False
        if not ignore_mismatch and (cache.version, cache.cc) != (self.fake.version, self.fake.cc):
            return False  # the verification header does not match this TensorRT / GPU
        self.cache = cache
        return True

    def get_timing_cache(self) -> TimingCache | None:
        return self.cache


class Config10(_ConfigBase):
    __slots__ = ("int8_calibrator", "calibration_profile")

    def __init__(self, fake: FakeTensorRT) -> None:
        super().__init__(fake)
        self.int8_calibrator: Any = None
        self.calibration_profile: OptimizationProfile | None = None

    def set_calibration_profile(self, profile: OptimizationProfile) -> bool:
        self.calibration_profile = profile
        return True


class Config11(_ConfigBase):
    __slots__ = ()


class Builder:
    def __init__(self, fake: FakeTensorRT, logger: Logger) -> None:
        self.fake = fake

    def create_network(self, flags: int = 0) -> Network:
        strong = bool(flags & (1 << self.fake.module.NetworkDefinitionCreationFlag.STRONGLY_TYPED
                               .value))
        return Network(self.fake, strongly_typed=strong or self.fake.major >= 11)

    def create_builder_config(self) -> _ConfigBase:
        return (Config10 if self.fake.major < 11 else Config11)(self.fake)

    def create_optimization_profile(self) -> OptimizationProfile:
        return OptimizationProfile()

    def build_serialized_network(self, network: Network, config: _ConfigBase) -> bytes | None:
        try:
            return self.fake.build(network, config)
        except BuildError as exc:
            self.fake.errors.append(str(exc))
            return None


class BuildError(Exception):
    pass


class OnnxParser:
    def __init__(self, network: Network, logger: Logger) -> None:
        self.network = network
        self.errors: list[str] = []

    def parse_from_file(self, path: str) -> bool:
        try:
            parse_onnx(self.network, Path(path))
        except Exception as exc:  # noqa: BLE001 - the real parser reports, never raises
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return False
        return True

    @property
    def num_errors(self) -> int:
        return len(self.errors)

    def get_error(self, i: int) -> str:
        return self.errors[i]


class Runtime:
    def __init__(self, fake: FakeTensorRT, logger: Logger) -> None:
        self.fake = fake

    def deserialize_cuda_engine(self, data: bytes) -> Any:
        from .fake_engine import Engine

        raw = bytes(data)
        try:
            header, onnx_bytes = split_plan(raw)
        except ValueError:
            return None
        if header["version"] != self.fake.version or header["cc"] != self.fake.cc:
            return None  # engines are tied to one TensorRT version and GPU
        return Engine(self.fake, header, onnx_bytes)


def split_plan(raw: bytes) -> tuple[dict[str, Any], bytes]:
    if not raw.startswith(MAGIC):
        raise ValueError("not a plan")
    n = int.from_bytes(raw[8:16], "little")
    return json.loads(raw[16:16 + n]), raw[16 + n:]


def join_plan(header: dict[str, Any], onnx_bytes: bytes) -> bytes:
    h = json.dumps(header).encode()
    return MAGIC + len(h).to_bytes(8, "little") + h + onnx_bytes


def tamper_plan(path: Path, **changes: Any) -> None:
    """Plant a fault in a built engine, e.g. ``scale_output=2.0`` (a miscompiled engine)."""
    header, onnx_bytes = split_plan(path.read_bytes())
    header.update(changes)
    path.write_bytes(join_plan(header, onnx_bytes))


class FakeTensorRT:
    """One fake installation: the ``tensorrt`` module, its cudart, and what it built."""

    def __init__(self, major: int = 10, *, version: str | None = None, cc: str = "8.7") -> None:
        self.major = major
        self.version = version or VERSIONS[major]
        self.cc = cc
        self.cudart = FakeCudart(cc=tuple(int(x) for x in cc.split(".")))  # type: ignore[arg-type]
        self.builds: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.fail_context = False
        self.module = self._module()

    def _module(self) -> types.ModuleType:
        from .fake_network import LayerType

        api: dict[str, Any] = {
            "__version__": self.version,
            "DataType": DT,
            "nptype": lambda dt: ONNX_DT[dt][1],
            "Logger": Logger, "MemoryPoolType": MemoryPoolType, "TensorIOMode": TensorIOMode,
            "LayerType": LayerType,
            "BuilderFlag": _builder_flags(self.major),
            "NetworkDefinitionCreationFlag": enum.IntEnum(
                "NetworkDefinitionCreationFlag", [("EXPLICIT_BATCH", 0), ("STRONGLY_TYPED", 5)]),
            "Builder": lambda logger: Builder(self, logger),
            "Runtime": lambda logger: Runtime(self, logger),
            "OnnxParser": OnnxParser,
            "IProfiler": type("IProfiler", (), {"__init__": lambda self: None}),
        }
        for alias, member in (("float32", "FLOAT"), ("float16", "HALF"), ("int8", "INT8"),
                              ("int32", "INT32"), ("int64", "INT64"), ("bool", "BOOL"),
                              ("uint8", "UINT8")):
            api[alias] = DT[member]
        if self.major < 11:
            class IInt8EntropyCalibrator2:
                def __init__(self) -> None:
                    pass

            api["IInt8EntropyCalibrator2"] = IInt8EntropyCalibrator2
        m = types.ModuleType("tensorrt")
        m.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)
        vars(m).update(api)
        return m

    # the build ---------------------------------------------------------------------------
    def build(self, network: Network, config: _ConfigBase) -> bytes:
        from .fake_engine import output_shapes

        flags = {f.name for f in config.flags}
        if not config.profiles:
            raise BuildError("no optimization profile")
        inp = network.get_input(0)
        mins, opts, maxs = config.profiles[0].shapes.get(inp.name, ((), (), ()))
        if not (len(mins) == len(inp.shape) and all(
                d < 0 or d == a == b == c for d, a, b, c in zip(inp.shape, mins, opts, maxs))):
            raise BuildError(f"profile {mins}..{maxs} contradicts input {inp.name}{inp.shape}")
        pins = self._check_precisions(network, flags)
        calibration = self._calibrate(network, config, flags, inp, opts)
        io = [{"name": t.name, "mode": "INPUT", "dtype": t.dtype.name, "shape": list(inp.shape)}
              for t in [inp]]
        dynamic = mins[0] != maxs[0]
        outs = network.outputs()
        shapes = output_shapes(network.onnx_bytes, inp, mins, [t.name for t in outs])
        for t in outs:
            shape = list(shapes[t.name])
            if dynamic and shape:
                shape[0] = -1
            io.append({"name": t.name, "mode": "OUTPUT", "dtype": t.dtype.name, "shape": shape})
        if config.cache is not None:
            config.cache.entries += 1
        header = {"version": self.version, "cc": self.cc, "major": self.major,
                  "flags": sorted(flags), "strongly_typed": network.strongly_typed,
                  "pins": pins, "calibration": calibration, "io": io,
                  "profile": {"min": list(mins), "opt": list(opts), "max": list(maxs)},
                  "onnx_sha": hashlib.sha256(network.onnx_bytes).hexdigest()}
        self.builds.append(header)
        return join_plan(header, network.onnx_bytes)

    def _check_precisions(self, network: Network, flags: set[str]) -> list[dict[str, Any]]:
        pins = []
        for layer in network.layers:
            prec = getattr(layer, "_precision", None)
            typed = getattr(layer, "_out_types", {})
            for i in typed:
                t = layer.get_output(i)
                if layer.type.name == "TOPK" and i == 1:
                    raise BuildError(f"{layer.name}: the type of TopK's index output cannot be set")
                if not is_float(t) and "OBEY_PRECISION_CONSTRAINTS" in flags:
                    raise BuildError(f"{layer.name}: output {i} is {t.dtype.name}, not float")
            if prec is not None and "OBEY_PRECISION_CONSTRAINTS" in flags:
                bad = [t for t in layer.inputs if not is_float(t)] + \
                    [t for t in layer.outputs if t.is_shape_tensor]
                if bad:
                    raise BuildError(f"{layer.name}: cannot run in {prec.name}: input "
                                     f"{bad[0].name} is {bad[0].dtype.name}"
                                     f"{' (shape tensor)' if bad[0].is_shape_tensor else ''}")
            if prec is not None or typed:
                pins.append({"layer": layer.name, "precision": prec.name if prec else None,
                             "outputs": {str(k): v.name for k, v in typed.items()}})
        return pins

    def _calibrate(self, network: Network, config: _ConfigBase, flags: set[str], inp: Any,
                   opts: tuple[int, ...]) -> str | None:
        cal = getattr(config, "int8_calibrator", None)
        if "INT8" not in flags or cal is None or network.has_qdq():
            return None
        cache = cal.read_calibration_cache()
        if cache is not None:
            raw = bytes(cache)
            if not raw.startswith(b"TRT-"):
                raise BuildError("the calibration cache is empty or corrupt")
            return hashlib.sha256(raw).hexdigest()
        prof = getattr(config, "calibration_profile", None) or config.profiles[0]
        shape = prof.shapes[inp.name][1]  # TensorRT calibrates at the OPT shape
        nbytes = int(np.prod(shape)) * 4
        digest = hashlib.sha256()
        batches = 0
        while True:
            ptrs = cal.get_batch([inp.name])
            if not ptrs:
                break
            try:
                digest.update(self.cudart.read(int(ptrs[0]), nbytes))
            except IllegalAddress as exc:
                raise BuildError(f"illegal memory access reading a calibration batch: {exc}") \
                    from exc
            batches += 1
        if not batches:
            raise BuildError("the calibrator gave no batches")
        raw = (f"TRT-{self.version.replace('.', '')}-EntropyCalibration2\n"
               f"{inp.name}: {digest.hexdigest()[:16]} ({batches} batches)\n").encode()
        cal.write_calibration_cache(raw)
        return hashlib.sha256(raw).hexdigest()


def install(monkeypatch: Any, major: int = 10, **kw: Any) -> FakeTensorRT:
    """Install a fake TensorRT of ``major`` and its cudart for one test."""
    fake = FakeTensorRT(major, **kw)
    cuda = types.ModuleType("cuda")
    bindings = types.ModuleType("cuda.bindings")
    for mod in (cuda, bindings):
        mod.__path__ = []  # packages
    bindings.runtime = fake.cudart  # type: ignore[attr-defined]
    cuda.bindings = bindings  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tensorrt", fake.module)
    monkeypatch.setitem(sys.modules, "cuda", cuda)
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", fake.cudart)
    return fake


_TRTEXEC_COMMON = {"--onnx", "--saveEngine", "--loadEngine", "--memPoolSize",
                   "--builderOptimizationLevel", "--noTF32", "--minShapes", "--optShapes",
                   "--maxShapes", "--timingCacheFile", "--stronglyTyped", "--verbose"}
#: trtexec build options (from trtexec's sampleOptions.cpp of 10.3 and 11.1) among those an
#: edgekit script could use; 11 dropped the precision flags, --calib and the per-layer
#: constraints (--stronglyTyped stays, as a deprecated no-op)
TRTEXEC_OPTIONS = {
    10: _TRTEXEC_COMMON | {"--fp16", "--int8", "--best", "--calib", "--precisionConstraints",
                           "--layerPrecisions", "--layerOutputTypes"},
    11: set(_TRTEXEC_COMMON),
}
