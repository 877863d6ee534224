"""Resolve what the user named as a model: a checkpoint, a shipped YAML name, a YAML path.

This module never imports torch or ultralytics at import time, never downloads and never
installs anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .._hashing import sha256_file
from ..errors import UsageError


@dataclass(frozen=True)
class ModelSource:
    kind: str  # "checkpoint" | "yaml"
    spec: str  # what the user typed
    path: Path | None  # the file on disk (None for a YAML that ships inside ultralytics)
    yaml_name: str | None  # the name handed to Ultralytics' builder, for YAMLs
    shipped_yaml: Path | None  # the packaged YAML file that a name resolved to
    trusted: bool = False  # --trust-checkpoint: the user vouches for the file (full unpickling)

    def sha256(self) -> str | None:
        f = self.path or self.shipped_yaml
        return sha256_file(f) if f else None


def _ultralytics_cfg_dir() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "cfg" / "models"


def find_shipped_yaml(name: str) -> Path | None:
    """The YAML inside the ultralytics package for ``name`` (``yolo26n.yaml`` -> ``26/yolo26.yaml``)."""
    root = _ultralytics_cfg_dir()
    if root is None:
        return None
    stem = Path(name).stem
    candidates = [stem, re.sub(r"(\d+)([nslmx])(.+)?$", r"\1\3", stem)]
    for cand in candidates:
        hits = sorted(root.rglob(f"{cand}.yaml"))
        if hits:
            return hits[0]
    return None


def resolve_source(spec: str, *, trust: bool = False) -> ModelSource:
    """Turn a user's model argument into a ModelSource, or raise one clear UsageError.

    ``trust`` marks a checkpoint the user vouches for (``--trust-checkpoint``); without it a
    checkpoint is opened weights-only against an allowlist (see :mod:`.checkpoint`)."""
    p = Path(spec)
    suffix = p.suffix.lower()
    if suffix in (".pt", ".pth"):
        if not p.is_file():
            raise UsageError(
                f"checkpoint not found: {spec}. edgekit never downloads weights; pass a local "
                "file, or an architecture YAML such as yolo26n.yaml for random weights"
            )
        return ModelSource("checkpoint", spec, p.resolve(), None, None, trust)
    if suffix in (".yaml", ".yml"):
        if p.is_file():
            return ModelSource("yaml", spec, p.resolve(), str(p.resolve()), None)
        if p.parent != Path("."):
            raise UsageError(f"model YAML not found: {spec}")
        shipped = find_shipped_yaml(spec)
        if shipped is None:
            if _ultralytics_cfg_dir() is None:
                from ..errors import MissingBackendError

                raise MissingBackendError(
                    f"cannot resolve '{spec}': ultralytics is not installed.", extra="export"
                )
            raise UsageError(
                f"'{spec}' is neither a file nor an architecture YAML shipped with ultralytics"
            )
        return ModelSource("yaml", spec, None, spec, shipped)
    if p.is_dir():
        raise UsageError(f"{spec} is a directory, not a model (a bundle directory only works here "
                         "for building on the device)")
    if not p.exists():
        raise UsageError(f"model not found: {spec}")
    raise UsageError(f"unsupported model file type '{suffix or p.name}': expected .pt or .yaml")
