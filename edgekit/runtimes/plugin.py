"""A runtime plug-in: everything edgekit knows about one runtime, in one object, and the
registry of them.

A plug-in says what it needs installed (:class:`Requirement`), whether it runs on this host,
how a bundle's artifact is built for it (:meth:`RuntimePlugin.build`), how parity reads the
attention taps on it (:meth:`RuntimePlugin.parity_run`), its runner, the bare model files
it loads, and, for runtimes that quantize, a :class:`Quantizer` that ``edgekit tune`` drives.
Each runtime is one module (or package) of :mod:`edgekit.runtimes` that subclasses
:class:`RuntimePlugin` and calls :func:`register`; the CLI, ``doctor``, profiles, export,
parity, bench, eval and tune ask the registry.

Light to import: no runtime library is imported here or by a plug-in at import time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .._lazy import available, require, version_of
from .._registry import Registry as _Registry
from .._registry import Stack
from ..errors import MissingBackendError, UsageError
from .base import Runner, RunnerSettings, run_backend

if TYPE_CHECKING:
    from types import ModuleType

    from ..bundle import Bundle, Tap
    from ..profiles.schema import Profile
    from ..scope import FloatScope, Selection
    from .profiling import OnnxNames, OpRecord


@dataclass(frozen=True)
class Requirement:
    """A package a runtime needs: its import name (found without importing it), the pip
    extra that brings it, its name in messages and the distributions that report its
    version (``module`` itself when empty)."""

    module: str
    extra: str
    human: str
    dists: tuple[str, ...] = ()

    def installed(self) -> bool:
        return available(self.module)

    def version(self) -> str | None:
        return next((v for d in (self.dists or (self.module,)) if (v := version_of(d))), None)

    def load(self, purpose: str | None = None) -> ModuleType:
        return require(self.module, extra=self.extra, purpose=purpose)


@dataclass(frozen=True)
class Host:
    """What this machine offers a runtime (``edgekit.hostinfo``)."""

    cpu: dict[str, Any]
    gpus: list[dict[str, Any]]
    jetson: dict[str, Any] | None

    @classmethod
    def here(cls) -> Host:
        from ..hostinfo import cpu_info, gpu_list, jetson_info

        return cls(cpu_info(), gpu_list(), jetson_info())


@dataclass
class BuildContext:
    """What a runtime's build reads: the bundle being assembled (``root``, with its
    ``model.onnx``), the profile, the deployed graph and its taps, and where calibration
    images come from."""

    root: Path
    profile: Profile
    deployed: Any  # onnx.ModelProto of root/model.onnx
    taps: list[Tap]
    resize: str  # how the model family is fed ("letterbox" | "stretch")
    images: str | list[Path] | None = None  # calibration images (None: the samples)
    onnx_path: Path | None = None  # the float ONNX (default root/model.onnx)
    _calibration: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def of_bundle(cls, root: Path, profile: Profile, taps: list[Tap], resize: str = "letterbox",
                  images: str | list[Path] | None = None) -> BuildContext:
        """A context over the ``model.onnx`` of the bundle (or bundle being assembled) at
        ``root``."""
        onnx = require("onnx", purpose="a runtime build")
        return cls(root, profile, onnx.load(str(root / "model.onnx")), taps, resize, images)

    @property
    def onnx(self) -> Path:
        return self.onnx_path or self.root / "model.onnx"

    def calibration(self) -> np.ndarray:
        """The profile's calibration images, resized the way the family is fed (read once)."""
        if self._calibration is None:
            from ..models.preprocess import image_batch, list_images

            cal = self.profile.calibration
            self._calibration = image_batch(list_images(cal.images or self.images),
                                            self.profile.imgsz, count=cal.count,
                                            mode=self.resize)
        return self._calibration

    def select(self, scope: FloatScope | None = None) -> Selection:
        """``scope`` (default: the profile's) resolved on the deployed graph."""
        from ..scope import FloatScope, select

        return select(self.deployed, self.taps, scope or FloatScope.of(self.profile.calibration))


@dataclass(frozen=True)
class Built:
    """What a runtime's build adds to a bundle: its manifest section and, when it runs a
    file of its own, that file (relative to the bundle)."""

    section: dict[str, Any]
    artifact: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class ParityRun:
    """A runtime's outputs over the reference inputs, stacked per sample (taps and
    ``output0``), what it ran on and the settings in force."""

    outputs: dict[str, np.ndarray]
    artifact: str
    settings: dict[str, Any]


class Quantizer:
    """INT8 builds of one bundle with any float scope, for ``edgekit tune`` (and the
    export's own INT8 build). Each build writes the runtime's files under ``root`` as a
    bundle lays them out, so a chosen candidate's folder is copied into a bundle whole."""

    def float_build(self, root: Path, policy: str | None = None) -> Built:
        """The unquantized build on this runtime (tune's baseline), its float parts carried
        at ``policy`` (default: the profile's); ``artifact`` None: the bundle's model.onnx."""
        raise NotImplementedError

    def int8_build(self, root: Path, scope: FloatScope, policy: str | None = None) -> Built:
        """INT8 with ``scope`` kept float, the float parts at ``policy`` (default: the
        profile's)."""
        raise NotImplementedError


class RuntimePlugin:
    """One runtime. Subclass it, set the class attributes, override what differs, and
    ``register(Subclass())``."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: what running it needs
    requires: ClassVar[tuple[Requirement, ...]] = ()
    #: what an INT8 build for it needs on top (NNCF for OpenVINO)
    int8_requires: ClassVar[tuple[Requirement, ...]] = ()
    #: suffixes of bare model files it loads (``edgekit bench model.xml``)
    suffixes: ClassVar[tuple[str, ...]] = ()
    #: it runs a ``.onnx`` file as it is (the export's ONNX self-check can use it)
    loads_onnx: ClassVar[bool] = False
    #: its artifacts run on any machine with the runtime; False: they are built on the
    #: device that runs them (TensorRT engines), from the bundle's ONNX
    portable: ClassVar[bool] = True
    #: it runs the bundle's recorded source, not a file of the bundle (torch)
    runs_source: ClassVar[bool] = False
    #: a profile may target it (torch is a runtime for baselines only)
    deployable: ClassVar[bool] = True
    #: the bundle artifact it runs when it built none of its own (``onnx``: model.onnx)
    fallback_artifact: ClassVar[str | None] = None
    #: an fp16 build computes in fp16 (TensorRT); elsewhere fp16 is a storage format and
    #: the float math stays f32 unless the profile says otherwise
    computes_fp16: ClassVar[bool] = False
    #: it builds INT8 with any float scope (:meth:`quantizer`): ``edgekit tune`` searches on it
    quantizes: ClassVar[bool] = False
    #: the float precisions it can run float parts at (the precision policy's words)
    float_precisions: ClassVar[tuple[str, ...]] = ("f32",)
    #: ``bench --hint throughput`` runs on it (async requests with streams)
    throughput: ClassVar[bool] = False
    #: ``module:Class`` of its :class:`~edgekit.runtimes.Runner` (imported when a runner is made)
    runner_class: ClassVar[str | None] = None
    #: it has a profiler hook (:meth:`profile_capture`, :meth:`profile_records`)
    profiles: ClassVar[bool] = False
    #: what a missing artifact asks the user to do
    how_to_build: ClassVar[str] = "export it with a profile that targets {name}"

    # -- what it needs ---------------------------------------------------------------------
    def requirements(self, profile: Profile | None = None) -> tuple[Requirement, ...]:
        int8 = profile is not None and profile.precision.value == "int8"
        return self.requires + (self.int8_requires if int8 else ())

    def missing(self, profile: Profile | None = None) -> list[Requirement]:
        return [r for r in self.requirements(profile) if not r.installed()]

    def check_installed(self, profile: Profile | None = None, purpose: str | None = None) -> None:
        """Exit 3 before any work when a package it needs is missing (found without
        importing it); the message names the extra to install."""
        for r in self.missing(profile):
            purpose = purpose or (f"profile {profile.name}" if profile is not None
                                  else f"the {self.name} backend")
            why = f" (needed for {purpose})"
            raise MissingBackendError(f"{r.human} is not installed{why}.", extra=r.extra)

    def versions(self) -> dict[str, str | None]:
        return {r.module: r.version() if r.installed() else None
                for r in self.requires + self.int8_requires}

    # -- where it runs -----------------------------------------------------------------------
    def runs_here(self, profile: Profile, host: Host) -> tuple[bool, str]:
        missing = self.missing(profile)
        if missing:
            return False, "missing " + ", ".join(r.module for r in missing)
        return True, "ok"

    def pays_here(self, profile: Profile, support: dict[str, bool]) -> tuple[bool | None, str]:
        """Whether the profile's reduced precision is faster than f32 here; None where the
        host is not the question."""
        return None, "-"

    # -- build -------------------------------------------------------------------------------
    def build(self, ctx: BuildContext) -> Built | None:
        """Build this runtime's artifact into ``ctx.root``; None when it runs ``model.onnx``
        as it is."""
        return None

    def quantizer(self, ctx: BuildContext, keep_tensors: Sequence[str] = ()) -> Quantizer | None:
        """INT8 builds with any float scope (``keep_tensors`` stay addressable), or None
        when this runtime does not quantize."""
        return None

    def files_built(self, profile: Profile) -> int:
        """How many weight-sized files its build adds (for the disk-space estimate)."""
        return 0

    # -- run ---------------------------------------------------------------------------------
    def runner(self, artifact: Path | None, *, settings: RunnerSettings | None = None,
               extra_outputs: list[str] | None = None, bundle: Bundle | None = None,
               trust_checkpoint: bool = False) -> Runner:
        """A runner for ``artifact`` (cheap: resources are taken in ``activate``). By
        default the :attr:`runner_class`, imported only now, built with the file, the extra
        outputs and the settings."""
        if self.runner_class is None or artifact is None:
            raise NotImplementedError(f"runtime {self.name} has no runner for {artifact}")
        import importlib

        module, _, cls = self.runner_class.partition(":")
        factory = getattr(importlib.import_module(module), cls)
        return factory(artifact, extra_outputs=extra_outputs, settings=settings)

    # -- profile (edgekit.attribution) --------------------------------------------------------
    def profile_capture(self, artifact: Path, feed: dict[str, np.ndarray], *, iters: int,
                        warmup: int, threads: int | None = None) -> dict[str, Any]:
        """Run ``artifact`` under the runtime's own profiler, with an unprofiled run of it
        interleaved; the raw capture, JSON-able (``profiled_ms``, ``unprofiled_ms``,
        ``settings`` and the runtime's own output), so that it can be recorded."""
        raise NotImplementedError(f"runtime {self.name} has no profiler hook")

    def profile_records(self, raw: dict[str, Any], names: OnnxNames) -> list[OpRecord]:
        """A capture's ops as :class:`OpRecord`, their ONNX nodes resolved with ``names``."""
        raise NotImplementedError(f"runtime {self.name} has no profiler hook")

    def check_artifact(self, bundle: Bundle) -> None:
        """Refuse (exit 4) an artifact this host cannot run (an engine built elsewhere)."""

    def artifact_of(self, bundle: Bundle) -> Path | None:
        rel = bundle.manifest.artifacts.get(self.name)
        if rel is None and self.fallback_artifact is not None:
            rel = bundle.manifest.artifacts.get(self.fallback_artifact)
        return bundle.path / rel if rel else None

    def parity_run(self, bundle: Bundle, profile: Profile, artifact: Path,
                   tensors: list[str], inputs: np.ndarray, workdir: Path) -> ParityRun:
        """Run the reference inputs with every tap exposed. By default the deployed artifact
        itself exposes them (extra outputs)."""
        runner = self.runner(artifact, extra_outputs=tensors,
                             settings=RunnerSettings.from_profile(profile))
        got = run_backend(runner, inputs, tensors)
        shown = (str(artifact.relative_to(bundle.path)) if artifact.is_relative_to(bundle.path)
                 else str(artifact))
        return ParityRun(got, shown, runner.describe())

    def precision_of(self, section: dict[str, Any], profile: Profile) -> str:
        """The precision of the artifact its build recorded in ``section``."""
        return str(section.get("precision", profile.precision.value))

    def float_report(self, artifact: Path) -> dict[str, Any] | None:
        """What a plain client of ``artifact`` runs its float ops at, here (None: the
        runtime has no other way to run it than its runner's)."""
        return None

    def file_precision(self, path: Path) -> str:
        """A bare file's precision, read from the file; "unknown" when it does not say."""
        return "unknown"

    def no_artifact(self, where: Path | str, has: Sequence[str]) -> MissingBackendError:
        how = self.how_to_build.format(name=self.name, where=where)
        return MissingBackendError(f"{where} has no {self.name} artifact (has: "
                                   f"{', '.join(has) or 'none'}); {how}.")


class Registry(_Registry[RuntimePlugin]):
    """Runtime plug-ins by name, in registration order."""

    kind = "runtime"

    def check(self, plugin: RuntimePlugin) -> None:
        taken = {s: p.name for p in self if p.name != plugin.name for s in p.suffixes}
        clash = [s for s in plugin.suffixes if s in taken]
        if clash:
            raise ValueError(f"file suffix {clash[0]!r} belongs to runtime {taken[clash[0]]!r}")

    def names(self, *, deployable: bool | None = None) -> list[str]:
        return [p.name for p in self if deployable is None or p.deployable == deployable]

    def for_file(self, path: Path) -> RuntimePlugin:
        suffix = path.suffix.lower()
        for p in self:
            if suffix in p.suffixes:
                return p
        known = ", ".join(s for p in self for s in p.suffixes)
        raise UsageError(f"{path}: unsupported model file (expected {known})")


#: the registry the package uses; tests work on copies (see :func:`using`)
REGISTRY = Registry()
_STACK = Stack(REGISTRY)
current = _STACK.current
#: make a registry the one every lookup consults, for a ``with`` block (tests)
using = _STACK.using


def register(plugin: RuntimePlugin) -> RuntimePlugin:
    return current().register(plugin)
