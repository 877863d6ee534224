"""The matrix file: models x profiles x sizes x devices, each cell running the same jobs.

Everything here is checked before anything is exported or submitted: a bad matrix is one
UsageError (exit 2), never a failed cell."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError

#: job kinds a cell runs, in this order: the edgekit command each maps to. ``sleep`` is the
#: stand-in job (no model work: it sleeps ``seconds``, then exits with ``exit``), for
#: measuring the engine's own overhead and for testing placement.
JOB_KINDS = ("parity", "eval", "bench", "sleep")
#: a label key or value as Ray (and Kubernetes) accepts it
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY = re.compile(rf"^({_NAME}(\.{_NAME})*/)?{_NAME}$")
_VALUE = re.compile(rf"^({_NAME})?$")
#: a selector value: ``v``, ``!v``, ``in(a,b)`` or ``!in(a,b)`` (Ray's label selector syntax)
_SELECT = re.compile(rf"^!?({_NAME}|in\(\s*{_NAME}(\s*,\s*{_NAME})*\s*\))$")
#: GitHub Actions: the most jobs one matrix may generate
GITHUB_MAX_JOBS = 256


@dataclass(frozen=True)
class Cell:
    """One model x profile x size on one device, with the jobs it runs there."""

    model: str
    profile: str
    imgsz: int
    device: str
    selector: dict[str, str]
    jobs: dict[str, dict[str, Any]]
    export: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """A readable, file-safe name, unique within a matrix."""
        stem = Path(self.model.rstrip("/")).stem
        return re.sub(r"[^A-Za-z0-9_.@-]", "_", f"{stem}-{self.profile}-{self.imgsz}@{self.device}")

    @property
    def build(self) -> tuple[str, str, int]:
        """What the portable bundle depends on: one export serves every device."""
        return (self.model, self.profile, self.imgsz)

    @property
    def inputs_hash(self) -> str:
        """Changes whenever what the cell would run changes (a resumed run re-runs it then)."""
        doc = {k: v for k, v in asdict(self).items()}
        p = Path(self.model)
        if p.is_file():
            doc["model_bytes"] = p.stat().st_size, p.stat().st_mtime_ns
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "id": self.id}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Cell:
        return cls(**{k: doc[k] for k in ("model", "profile", "imgsz", "device", "selector",
                                          "jobs", "export")})


@dataclass(frozen=True)
class Matrix:
    source: str
    cells: list[Cell]
    devices: dict[str, dict[str, str]]

    def cell(self, cell_id: str) -> Cell:
        for c in self.cells:
            if c.id == cell_id:
                return c
        raise UsageError(f"{self.source}: no cell {cell_id!r} (see `edgekit fleet matrix`)")


def selector_error(selector: Any) -> str | None:
    """Why ``selector`` is not a label selector (a mapping of label keys to values), or None."""
    if not isinstance(selector, dict) or not selector:
        return "a selector is a non-empty mapping of label keys to values"
    for k, v in selector.items():
        if not isinstance(k, str) or not _KEY.match(k) or k.startswith("ray.io/"):
            return f"label key {k!r} is not valid (letters, digits, '-', '_', '.'; at most 63)"
        if not isinstance(v, str | int | bool) or not _SELECT.match(str(v).lower()
                                                                   if isinstance(v, bool) else str(v)):
            return (f"label value {v!r} of {k} is not valid (a value, !value, in(a,b) or "
                    "!in(a,b); letters, digits, '-', '_', '.'; at most 63)")
    return None


def label_error(key: str, value: str) -> str | None:
    """Why ``key=value`` cannot be a node label, or None."""
    if not _KEY.match(key) or key.startswith("ray.io/"):
        return f"label key {key!r} is not valid"
    if not _VALUE.match(value):
        return f"label value {value!r} of {key} is not valid"
    return None


def _as_list(value: Any, what: str, source: str) -> list[Any]:
    items = value if isinstance(value, list) else [value]
    if not items or any(v is None or isinstance(v, dict | list) for v in items):
        raise UsageError(f"{source}: {what} must be a value or a non-empty list of values")
    return items


def _model_error(spec: str, base: Path) -> str | None:
    p = Path(spec) if Path(spec).is_absolute() else base / spec
    if p.is_dir():
        return None if (p / "manifest.json").is_file() else f"model {spec}: a folder but not a bundle"
    if p.suffix.lower() in (".pt", ".pth") and not p.is_file():
        return f"model {spec}: checkpoint not found (edgekit never downloads weights)"
    if p.suffix.lower() in (".yaml", ".yml") and Path(spec).parent != Path(".") and not p.is_file():
        return f"model {spec}: model YAML not found"
    if p.suffix.lower() not in (".pt", ".pth", ".yaml", ".yml"):
        return f"model {spec}: neither a checkpoint (.pt), a model YAML nor a bundle folder"
    return None


def _resolve_model(spec: str, base: Path) -> str:
    p = Path(spec)
    if p.is_absolute() or Path(spec).parent == Path(".") and not (base / spec).exists():
        return spec  # absolute, or an Ultralytics YAML name such as yolo26n.yaml
    return str((base / spec).resolve())


def _jobs(raw: Any, source: str) -> dict[str, dict[str, Any]]:
    if isinstance(raw, list):  # jobs: [parity, bench] or [{bench: {...}}]
        merged: dict[str, Any] = {}
        for j in raw:
            merged.update(j if isinstance(j, dict) else {j: {}})
        raw = merged
    if not isinstance(raw, dict) or not raw:
        raise UsageError(f"{source}: jobs must name at least one of {', '.join(JOB_KINDS)}")
    jobs: dict[str, dict[str, Any]] = {}
    for kind in raw:
        if kind not in JOB_KINDS:
            raise UsageError(f"{source}: unknown job {kind!r}; choose from {', '.join(JOB_KINDS)}")
        opts = raw[kind] or {}
        if not isinstance(opts, dict):
            raise UsageError(f"{source}: the options of job {kind} must be a mapping")
        if kind == "eval" and "data" not in opts:
            raise UsageError(f"{source}: job eval needs data: (an Ultralytics data.yaml)")
        jobs[kind] = opts
    return {k: jobs[k] for k in JOB_KINDS if k in jobs}


def load_matrix(path: str | Path) -> Matrix:
    """Read and check a matrix file; relative model and data paths are relative to it."""
    import yaml

    from ..profiles import load_profile
    from ..profiles.schema import imgsz_error

    src = str(path)
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"matrix {src}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"matrix {src}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(doc, dict):
        raise UsageError(f"matrix {src}: expected a mapping with models, profiles, devices, jobs")
    unknown = set(doc) - {"models", "profiles", "imgsz", "devices", "jobs", "export"}
    if unknown:
        raise UsageError(f"matrix {src}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("models", "profiles", "devices", "jobs"):
        if key not in doc:
            raise UsageError(f"matrix {src}: missing {key}:")
    base = Path(path).resolve().parent
    models = [str(m) for m in _as_list(doc["models"], "models", src)]
    for m in models:
        if why := _model_error(m, base):
            raise UsageError(f"matrix {src}: {why}")
    profiles = [str(p) for p in _as_list(doc["profiles"], "profiles", src)]
    for p in profiles:
        load_profile(p if not p.endswith((".yaml", ".yml")) else str(base / p))
    sizes = _as_list(doc.get("imgsz", 640), "imgsz", src)
    for s in sizes:
        if not isinstance(s, int) or (why := imgsz_error(s)):
            raise UsageError(f"matrix {src}: imgsz {s}: {why if isinstance(s, int) else 'not a number'}")
    devices = doc["devices"]
    if not isinstance(devices, dict) or not devices:
        raise UsageError(f"matrix {src}: devices must map names to label selectors")
    for name, sel in devices.items():
        if why := selector_error(sel):
            raise UsageError(f"matrix {src}: device {name}: malformed selector: {why}")
    selectors = {str(n): {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in s.items()}
                 for n, s in devices.items()}
    jobs = _jobs(doc["jobs"], f"matrix {src}")
    if "data" in jobs.get("eval", {}):
        jobs["eval"]["data"] = str((base / str(jobs["eval"]["data"])).resolve())
    export = doc.get("export") or {}
    if not isinstance(export, dict):
        raise UsageError(f"matrix {src}: export: must be a mapping of export options")
    cells = [Cell(_resolve_model(m, base), p, s, d, selectors[d], jobs, export)
             for m in models for p in profiles for s in sizes for d in selectors]
    ids = [c.id for c in cells]
    if len(set(ids)) != len(ids):
        raise UsageError(f"matrix {src}: two models or profiles share a name; cells would collide")
    return Matrix(src, cells, selectors)


def github_matrix(matrix: Matrix, runner_labels: tuple[str, ...] = ("self-hosted",)) -> dict[str, Any]:
    """A GitHub Actions ``strategy.matrix``: one job per cell, ``runs-on`` the runner labels
    plus ``key=value`` for each of the device's selector labels."""
    if len(matrix.cells) > GITHUB_MAX_JOBS:
        raise UsageError(f"matrix {matrix.source}: {len(matrix.cells)} cells; a GitHub matrix "
                         f"holds at most {GITHUB_MAX_JOBS} jobs (split the matrix file)")
    include = []
    for c in matrix.cells:
        if any(v.startswith(("!", "in(")) for v in c.selector.values()):
            raise UsageError(f"device {c.device}: a selector with ! or in(...) has no GitHub "
                             "runs-on equivalent; use plain key: value labels")
        include.append({"cell": c.id, "device": c.device,
                        "runs-on": [*runner_labels, *(f"{k}={v}" for k, v in c.selector.items())]})
    return {"include": include}
