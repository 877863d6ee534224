"""TensorRT engine building (TensorRT 10+ Python API), imported lazily.

Pure parts, unit-tested without the library: profile -> :class:`TrtBuildSettings`, the
equivalent ``trtexec`` command line, and the engine compatibility check. The build itself
needs ``tensorrt`` and a GPU; engines are raw plans with no header, so trtexec and
DeepStream can load them, and their metadata lives in the bundle's manifest.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._lazy import require
from ..errors import IntegrityError, MissingBackendError

INPUT = "images"


@dataclass(frozen=True)
class TrtBuildSettings:
    precision: str  # fp32 | fp16 | int8
    workspace_bytes: int
    imgsz: int
    batch_min: int
    batch_opt: int
    batch_max: int
    dynamic: bool
    optimization_level: int
    timing_cache: bool
    #: tensor names to mark as extra outputs (parity engines only)
    mark_outputs: tuple[str, ...] = ()
    #: ONNX node-name substrings / op types kept in fp32 (fp16 and int8 builds)
    fp32_layers: tuple[str, ...] = ()
    fp32_op_types: tuple[str, ...] = field(default=("Softmax", "LayerNormalization",
                                                    "ReduceMean", "GridSample", "TopK"))

    def shape(self, batch: int) -> tuple[int, int, int, int]:
        return (batch, 3, self.imgsz, self.imgsz)


def settings_from_profile(profile: Any, *, mark_outputs: list[str] | None = None) -> TrtBuildSettings:
    b = profile.batch
    if b.dynamic:
        bmin, bopt, bmax = b.min, (b.opt or b.size), b.max
    else:
        bmin = bopt = bmax = b.size
    return TrtBuildSettings(
        precision=profile.precision.value,
        workspace_bytes=int(profile.runtime.trt_workspace_gb * (1 << 30)),
        imgsz=profile.imgsz,
        batch_min=bmin, batch_opt=bopt, batch_max=bmax,
        dynamic=b.dynamic,
        optimization_level=profile.runtime.trt_builder_optimization_level,
        timing_cache=profile.runtime.trt_timing_cache,
        mark_outputs=tuple(mark_outputs or ()),
    )


def _shape_arg(s: tuple[int, ...]) -> str:
    return f"{INPUT}:" + "x".join(str(d) for d in s)


def trtexec_command(settings: TrtBuildSettings, onnx: str = "model.onnx",
                    engine: str = "tensorrt/model.engine",
                    timing_cache: str = "tensorrt/timing.cache") -> str:
    """The trtexec line that builds the same engine (for users who prefer trtexec)."""
    args = ["trtexec", f"--onnx={onnx}", f"--saveEngine={engine}",
            f"--memPoolSize=workspace:{settings.workspace_bytes // (1 << 20)}M",
            f"--builderOptimizationLevel={settings.optimization_level}"]
    if settings.precision == "fp16":
        args.append("--fp16")
    elif settings.precision == "int8":
        args += ["--int8", "--fp16"]
    if settings.precision != "fp32" and settings.fp32_op_types:
        args.append("--precisionConstraints=obey")
    if settings.dynamic:
        args += [f"--minShapes={_shape_arg(settings.shape(settings.batch_min))}",
                 f"--optShapes={_shape_arg(settings.shape(settings.batch_opt))}",
                 f"--maxShapes={_shape_arg(settings.shape(settings.batch_max))}"]
    if settings.timing_cache:
        args.append(f"--timingCacheFile={timing_cache}")
    return " ".join(shlex.quote(a) for a in args)


def check_engine_compat(recorded: dict[str, Any], running: dict[str, Any]) -> None:
    """Engines are tied to one TensorRT version and GPU: refuse a mismatch plainly."""
    want_v, have_v = recorded.get("tensorrt"), running.get("tensorrt")
    want_cc, have_cc = recorded.get("compute_capability"), running.get("compute_capability")
    problems = []
    if want_v and have_v and str(want_v) != str(have_v):
        problems.append(f"built with TensorRT {want_v}, running {have_v}")
    if want_cc and have_cc and str(want_cc) != str(have_cc):
        problems.append(f"built for compute capability {want_cc}, this GPU is {have_cc}")
    if problems:
        raise IntegrityError("the TensorRT engine does not match this machine ("
                             + "; ".join(problems) + "): rebuild it here with "
                             "`edgekit export BUNDLE_DIR --profile PROFILE`")


def gpu_info() -> dict[str, Any]:
    """TensorRT version, GPU name and compute capability; JetPack where readable."""
    info: dict[str, Any] = {}
    try:
        import tensorrt as trt  # type: ignore[import-not-found]

        info["tensorrt"] = trt.__version__
    except ImportError:
        pass
    cudart = _cudart()
    if cudart is not None:
        err, prop = cudart.cudaGetDeviceProperties(0)
        if int(err) == 0:
            name = prop.name
            info["gpu"] = name.decode(errors="replace").strip("\x00") if isinstance(name, bytes) else str(name)
            info["compute_capability"] = f"{prop.major}.{prop.minor}"
    jp = jetpack_version()
    if jp:
        info["jetpack"] = jp
    return info


def jetpack_version() -> str | None:
    p = Path("/etc/nv_tegra_release")
    if p.is_file():
        first = p.read_text(errors="replace").splitlines()[0] if p.stat().st_size else ""
        return "L4T " + first.replace("#", "").strip()
    return None


def _cudart() -> Any:
    try:
        from cuda.bindings import runtime as cudart  # type: ignore[import-not-found]

        return cudart
    except ImportError:
        try:
            from cuda import cudart  # type: ignore[import-not-found]

            return cudart
        except ImportError:
            return None


def _require_trt() -> Any:
    return require("tensorrt", extra="tensorrt", purpose="TensorRT engines")


def make_calibrator(trt: Any, batches: np.ndarray, cache_path: Path) -> Any:
    """An entropy calibrator fed by preprocessed images (N, 3, H, W float32)."""
    cudart = _cudart()
    if cudart is None:
        raise MissingBackendError("INT8 calibration needs cuda-python.", extra="tensorrt")

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.data = np.ascontiguousarray(batches, dtype=np.float32)
            self.i = 0
            err, self.dptr = cudart.cudaMalloc(self.data[0:1].nbytes)

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names):  # noqa: ARG002
            if self.i >= len(self.data):
                return None
            x = self.data[self.i : self.i + 1]
            cudart.cudaMemcpy(self.dptr, x.ctypes.data, x.nbytes,
                              cudart.cudaMemcpyKind.cudaMemcpyHostToDevice)
            self.i += 1
            return [int(self.dptr)]

        def read_calibration_cache(self):
            return cache_path.read_bytes() if cache_path.is_file() else None

        def write_calibration_cache(self, cache) -> None:
            cache_path.write_bytes(bytes(cache))

    return EntropyCalibrator()


def build_engine(onnx_path: Path, engine_path: Path, settings: TrtBuildSettings, *,
                 calibration: np.ndarray | None = None, timing_cache_path: Path | None = None,
                 log: Any = None) -> dict[str, Any]:
    """Parse the ONNX, configure and build a serialized engine (raw plan, no header)."""
    trt = _require_trt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errs = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errs}")
    if settings.mark_outputs:
        by_name = {}
        for li in range(network.num_layers):
            layer = network.get_layer(li)
            for oi in range(layer.num_outputs):
                t = layer.get_output(oi)
                by_name[t.name] = t
        for name in settings.mark_outputs:
            if name not in by_name:
                raise RuntimeError(f"tap tensor {name} not found in the TensorRT network")
            network.mark_output(by_name[name])
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_bytes)
    config.builder_optimization_level = settings.optimization_level
    if settings.precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    if settings.precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        if calibration is None:
            raise RuntimeError("INT8 engines need calibration images")
        config.int8_calibrator = make_calibrator(trt, calibration,
                                                 engine_path.with_suffix(".calib"))
    if settings.precision != "fp32" and (settings.fp32_op_types or settings.fp32_layers):
        kept = keep_layers_fp32(trt, network, settings)
        if kept:
            config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    inp = network.get_input(0)
    profile = builder.create_optimization_profile()
    profile.set_shape(inp.name, settings.shape(settings.batch_min),
                      settings.shape(settings.batch_opt), settings.shape(settings.batch_max))
    config.add_optimization_profile(profile)
    if settings.precision == "int8":
        config.set_calibration_profile(profile)
    cache = None
    if settings.timing_cache and timing_cache_path is not None:
        blob = timing_cache_path.read_bytes() if timing_cache_path.is_file() else b""
        cache = config.create_timing_cache(blob)
        config.set_timing_cache(cache, ignore_mismatch=False)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError("TensorRT failed to build the engine (see the log above)")
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    engine_path.write_bytes(bytes(plan))  # raw plan: no header
    if cache is not None and timing_cache_path is not None:
        timing_cache_path.write_bytes(bytes(config.get_timing_cache().serialize()))
    return gpu_info()


def keep_layers_fp32(trt: Any, network: Any, settings: TrtBuildSettings) -> int:
    """Pin attention hotspots (softmax, normalisation, GridSample, TopK) to fp32."""
    types = {t.lower() for t in settings.fp32_op_types}
    n = 0
    for li in range(network.num_layers):
        layer = network.get_layer(li)
        name = layer.name or ""
        lname = name.lower()
        hit = any(t in lname for t in types) or any(s in name for s in settings.fp32_layers)
        if hit:
            layer.precision = trt.float32
            for oi in range(layer.num_outputs):
                layer.set_output_type(oi, trt.float32)
            n += 1
    return n
