"""Which known-bad entries match: an export's target (profile, family, opset) against this
host's installed versions and JetPack. The version providers are module functions so tests
can fake them."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import BackendError, UsageError
from .table import TABLE, KnownIssue

log = logging.getLogger("edgekit")

#: the device each runtime plug-in runs on as edgekit ships them (OpenVINO and ONNX Runtime
#: on the CPU, TensorRT on a GPU); an entry for another device cannot match an export today
RUNTIME_DEVICES = {"openvino": "CPU", "onnxruntime": "CPU", "tensorrt": "GPU"}


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``; None if not installed."""
    from importlib import metadata

    for dist in (name, f"{name}-cu12", f"{name}-cu13") if name == "tensorrt" else (name,):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def jetpack_version() -> str | None:
    """This host's JetPack version (``7.0``), None off a Jetson or when it is not known."""
    from ..hostinfo import jetson_info

    info = jetson_info()
    jp = (info or {}).get("jetpack")
    return str(jp).split("+")[0].split("-")[0] if jp else None


@dataclass(frozen=True)
class Target:
    """What is about to be built. None: not known (``doctor`` without a profile): that field
    does not narrow the match."""

    runtimes: tuple[str, ...] | None = None
    devices: dict[str, str] = field(default_factory=lambda: dict(RUNTIME_DEVICES))
    family: str | None = None
    precision: str | None = None
    opset: int | None = None

    @classmethod
    def of(cls, profile: Any, family: str | None, opset: int | None = None) -> Target:
        return cls(runtimes=tuple(profile.runtimes), family=family,
                   precision=profile.precision.value, opset=opset)


@dataclass(frozen=True)
class Match:
    issue: KnownIssue
    installed: str | None  # the version found (None: not installed here, when_absent)
    allowed: bool = False

    def line(self) -> str:
        """One line: what, where it came from, and what edgekit does."""
        i = self.issue
        ver = f"{i.package} {self.installed}" if self.installed else f"{i.package} (built elsewhere)"
        what = {"warn": "warning", "refuse": "allowed by --allow-known-issue" if self.allowed
                else "refused", "workaround": f"worked around: {i.workaround}"}[i.action]
        return f"known issue {i.id} ({ver}, {i.platform}): {i.symptom} [{what}; {i.source}]"

    def record(self) -> dict[str, Any]:
        """What the manifest keeps."""
        return {"id": self.issue.id, "action": self.issue.action, "package": self.issue.package,
                "installed": self.installed, "source": self.issue.source,
                "allowed": self.allowed}


def _in(spec: str | None, version: str | int | None) -> bool:
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    if spec is None:
        return True
    if version is None:
        return False
    try:
        return Version(str(version)) in SpecifierSet(spec, prereleases=True)
    except InvalidVersion:
        return False


def _target_matches(i: KnownIssue, t: Target) -> bool:
    if i.runtime is not None:
        if t.runtimes is not None and i.runtime not in t.runtimes:
            return False
        if i.device is not None and t.devices.get(i.runtime) != i.device:
            return False
    if i.family is not None and t.family is not None and i.family != t.family:
        return False
    if i.precision is not None and t.precision is not None and i.precision != t.precision:
        return False
    return i.opset is None or t.opset is None or _in(i.opset, t.opset)


def matching(target: Target, table: Iterable[KnownIssue] = TABLE) -> list[Match]:
    """The entries that apply to ``target`` with this host's versions."""
    out = []
    jetpack = None
    for i in table:
        if not _target_matches(i, target):
            continue
        if i.jetpack is not None:
            jetpack = jetpack or jetpack_version()
            if not _in(i.jetpack, jetpack):
                continue
        installed = package_version(i.package)
        if installed is None:
            if i.when_absent and i.action == "workaround" and target.runtimes is not None:
                out.append(Match(i, None))
            continue
        if _in(i.versions or None, installed):
            out.append(Match(i, installed))
    return out


def check_allowed(allow: Iterable[str], table: Iterable[KnownIssue] = TABLE) -> tuple[str, ...]:
    """``--allow-known-issue`` ids, each one in the table (exit 2 otherwise)."""
    ids = {i.id for i in table}
    allow = tuple(allow)
    for a in allow:
        if a not in ids:
            raise UsageError(f"--allow-known-issue {a}: no such known issue (see edgekit doctor "
                             "--known-issues)")
    return allow


def check_environment(target: Target, allow: Iterable[str] = (),
                      table: Iterable[KnownIssue] = TABLE) -> list[Match]:
    """The matches for ``target``, each logged as one warning line with its source; a
    ``refuse`` entry not in ``allow`` stops the work (exit 3, naming the flag)."""
    allow = check_allowed(allow, table)
    found = [Match(m.issue, m.installed, m.issue.id in allow) for m in matching(target, table)]
    for m in found:
        if m.issue.action == "refuse" and not m.allowed:
            raise BackendError(f"{m.line()}; pass --allow-known-issue {m.issue.id} to build "
                               "anyway")
    for m in found:
        log.warning(m.line())
    return found


def opset_cap(matches: Iterable[Match]) -> int | None:
    """The lowest opset a matched workaround allows (None: no cap)."""
    caps = [m.issue.max_opset for m in matches
            if m.issue.action == "workaround" and m.issue.max_opset is not None]
    return min(caps) if caps else None


def check_bundle(manifest: Any, profile: Any, runtimes: Iterable[str],
                 allow: Iterable[str] = ()) -> list[Match]:
    """:func:`check_environment` for work on a built bundle (``parity``, ``bench``, a build
    on the device): its family and opset, the profile's precision, the runtimes about to run.
    A workaround edgekit applies at export (an opset cap) cannot apply to an ONNX already
    made: such a match refuses unless allowed, asking for a re-export."""
    allow = check_allowed(allow)
    target = Target(runtimes=tuple(runtimes), family=manifest.source.family,
                    precision=profile.precision.value, opset=manifest.opset)
    for m in matching(target):
        if m.issue.action == "workaround" and m.issue.id not in allow:
            raise BackendError(f"{m.line()}; this bundle was exported without it: export it "
                               f"again, or pass --allow-known-issue {m.issue.id}")
    return check_environment(target, allow)
