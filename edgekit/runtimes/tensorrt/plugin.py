"""TensorRT as a runtime plug-in: engines are built on the target (never portable), parity
judges the deployed engine's ``output0`` and reads the taps from a rebuild with them marked."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import IntegrityError
from ..base import OUTPUT, Runner, RunnerSettings, run_backend
from ..plugin import BuildContext, Built, Host, ParityRun, Requirement, RuntimePlugin

if TYPE_CHECKING:
    from ...bundle import Bundle
    from ...profiles.schema import Profile

TENSORRT = Requirement("tensorrt", "tensorrt", "TensorRT",
                       ("tensorrt", "tensorrt-cu12", "tensorrt-cu13"))


class TensorRTPlugin(RuntimePlugin):
    name = "tensorrt"
    description = "NVIDIA TensorRT 10 (weakly typed, JetPack 6) or 11 (strongly typed)"
    requires = (TENSORRT,)
    runner_class = "edgekit.runtimes.tensorrt.runner:TensorRTRunner"
    suffixes = (".engine", ".plan")
    computes_fp16 = True
    float_precisions = ("f32", "fp16")
    portable = False
    profiles = True  # IProfiler; never run on real TensorRT (built on the stand-in)
    how_to_build = ("build its engine on the GPU with `edgekit export {where} --profile "
                    "PROFILE` (nvidia-gpu-fp16, jetson-orin-*)")

    def check_installed(self, profile: Profile | None = None, purpose: str | None = None) -> None:
        if profile is not None and purpose is None:
            purpose = (f"profile {profile.name} (build TensorRT engines on the target GPU or "
                       "Jetson: export an ONNX bundle here, then run `edgekit export "
                       f"BUNDLE_DIR --profile {profile.name}` there)")
        super().check_installed(profile, purpose)

    def runs_here(self, profile: Profile, host: Host) -> tuple[bool, str]:
        ok, why = super().runs_here(profile, host)
        if not ok:
            return ok, why
        if not host.gpus and not host.jetson:
            return False, "no NVIDIA GPU"
        if profile.jetson and not host.jetson:
            return False, "not a Jetson (export the ONNX here, build the engine on the device)"
        return True, "ok"

    def pays_here(self, profile: Profile, support: dict[str, bool]) -> tuple[bool | None, str]:
        return None, "GPU"

    def build(self, ctx: BuildContext) -> Built:
        from .bundle import build_tensorrt
        from .settings import ENGINE

        return Built(build_tensorrt(ctx), ENGINE)

    def files_built(self, profile: Profile) -> int:
        return 1 + int(profile.precision.value == "int8")

    def runner(self, artifact: Path | None, *, settings: RunnerSettings | None = None,
               extra_outputs: list[str] | None = None, bundle: Bundle | None = None,
               trust_checkpoint: bool = False) -> Runner:
        """An engine runs as it was built: a bundle's runner reports the float precision its
        build recorded, whatever the profile asked."""
        if bundle is not None and settings is not None:
            built = (bundle.manifest.runtime(self.name) or {}).get("settings") or {}
            if built:
                from dataclasses import replace

                from .settings import settings_from_dict

                policy: Any = settings_from_dict(built).float_precision
                settings = replace(settings, float_precision=policy)
        return super().runner(artifact, settings=settings, extra_outputs=extra_outputs)

    def check_artifact(self, bundle: Bundle) -> None:
        from .cuda import gpu_info
        from .settings import check_engine_compat

        check_engine_compat(bundle.manifest.runtime(self.name) or {}, gpu_info())

    def precision_of(self, section: dict[str, Any], profile: Profile) -> str:
        return str(section.get("settings", {}).get("precision", "unknown"))

    def profile_capture(self, artifact: Path, feed: dict[str, Any], *, iters: int, warmup: int,
                        threads: int | None = None) -> dict[str, Any]:
        from .profile import capture

        return capture(artifact, feed, iters=iters, warmup=warmup)

    def profile_records(self, raw: dict[str, Any], names: Any) -> list[Any]:
        from .profile import records

        return records(raw, names)

    def parity_run(self, bundle: Bundle, profile: Profile, artifact: Path,
                   tensors: list[str], inputs: np.ndarray, workdir: Path) -> ParityRun:
        """``output0`` from the deployed engine itself; the taps from a rebuild with them
        marked (marking outputs changes TensorRT's fusions, so the deployed engine has none)."""
        if artifact != self.artifact_of(bundle):
            raise ValueError("parity rebuilds TensorRT's tap engine from the bundle's ONNX: it "
                             "cannot check another engine file")
        settings = RunnerSettings.from_profile(profile)
        runner = self.runner(tap_engine(bundle, workdir, tensors), extra_outputs=tensors,
                             settings=settings, bundle=bundle)
        got = run_backend(runner, inputs, tensors)
        got[OUTPUT] = run_backend(self.runner(artifact, settings=settings, bundle=bundle),
                                  inputs, [])[OUTPUT]
        rel = str(artifact.relative_to(bundle.path))
        built = bundle.manifest.runtime(self.name) or {}
        engines = {"output0": f"{rel} (the deployed engine)",
                   "taps": "a rebuild with the taps marked, from "
                           f"{built.get('source_onnx', 'model.onnx')}"
                           + (" and the deployed calibration cache"
                              if built.get("calibration_cache") else "")}
        return ParityRun(got, rel, {**runner.describe(), "engines": engines})


def tap_engine(bundle: Bundle, tmp: Path, taps: list[str]) -> Path:
    """An engine with the taps marked, built with the deployed engine's precision: the same
    ONNX (so the same Q/DQ scales, or the same fp16 islands) and, for a calibrated INT8
    engine, the deployed engine's calibration cache, read and never rewritten."""
    from .build import build_engine
    from .cuda import gpu_info
    from .settings import CALIB_CACHE, check_engine_compat, settings_from_dict

    built = bundle.manifest.runtime("tensorrt") or {}
    check_engine_compat(built, gpu_info())
    onnx_path = bundle.file(built.get("source_onnx") or bundle.manifest.artifacts["onnx"])
    settings = settings_from_dict(built["settings"], mark_outputs=tuple(taps), timing_cache=False)
    cache = None
    if settings.precision == "int8" and settings.int8_mode == "calibrator":
        deployed_cache = bundle.file(built.get("calibration_cache") or CALIB_CACHE)
        if not deployed_cache.is_file() or deployed_cache.stat().st_size == 0:
            raise IntegrityError(f"{deployed_cache}: the calibration cache of the deployed "
                                 "engine is missing; parity cannot rebuild its INT8 scales")
        cache = tmp / "parity.calib"
        shutil.copyfile(deployed_cache, cache)
    engine = tmp / "parity.engine"
    build_engine(onnx_path, engine, settings, calib_cache=cache, calib_readonly=True)
    return engine
