"""Open an Ultralytics checkpoint without running code from it.

A ``.pt`` file is a pickle, and a pickle can name any importable function to call while
it is read (``os.system``, say). Ultralytics' own loader unpickles with
``weights_only=False`` unless ``ULTRALYTICS_SAFE_LOAD`` is set, so edgekit never hands a
user's file to it. Here every checkpoint is read with ``torch.load(weights_only=True)``
and an allowlist of the classes a real Ultralytics detection checkpoint contains:

* ``torch.nn.modules.*`` and ``ultralytics.nn.modules.*`` / ``ultralytics.nn.tasks.*``
  classes that are ``nn.Module`` subclasses (the layers and the model itself);
* the loss and assigner classes of ``ultralytics.utils.loss`` / ``ultralytics.utils.tal``
  (some training checkpoints carry the model's criterion);
* data: Ultralytics' ``IterableSimpleNamespace`` (training arguments), numpy scalars and
  dtypes (metrics), ``pathlib`` paths.

Allowed classes are registered *new-only*: the unpickler may create a bare instance and
fill its ``__dict__`` (what pickling a module needs), but calling an allowed class, which a
hostile pickle could use to run a constructor with arguments of its choosing (Ultralytics'
model constructors ``eval`` a YAML's ``activation``), only ever yields a bare instance too.

A file that names anything else is refused before that thing is imported or called:
:class:`UnsafeCheckpointError` (exit 4) names the file and the global. ``trust=True``
(``--trust-checkpoint``) is the user's explicit opt-out for a file they vouch for.
"""

from __future__ import annotations

import contextlib
import importlib
import pickle
import re
import secrets
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from .._lazy import require
from ..errors import IntegrityError, UsageError

TRUST_HINT = "pass --trust-checkpoint only if you trust this file and where it came from"

#: modules whose nn.Module subclasses a detection checkpoint may contain
_MODULE_PREFIXES = ("torch.nn.modules.", "ultralytics.nn.modules.")
_MODULE_EXACT = ("torch.nn.modules", "ultralytics.nn.modules", "ultralytics.nn.tasks")
#: modules whose own plain classes (a saved criterion) may appear
_CLASS_MODULES = ("ultralytics.utils.loss", "ultralytics.utils.tal")
#: data globals by exact name
_DATA = {
    "ultralytics.utils.IterableSimpleNamespace": ("ultralytics.utils", "IterableSimpleNamespace"),
    "pathlib.PosixPath": ("pathlib", "PurePosixPath"),
    "pathlib.WindowsPath": ("pathlib", "PureWindowsPath"),
    "pathlib._local.PosixPath": ("pathlib", "PurePosixPath"),
    "pathlib._local.WindowsPath": ("pathlib", "PureWindowsPath"),
}
#: numpy's scalar reconstructor and dtype classes (metrics saved as numpy floats)
_NUMPY_RE = re.compile(r"^numpy(\._core|\.core)?\.(multiarray\.scalar|dtype|dtypes\.\w+DType)$")
_GLOBAL_RE = re.compile(r"GLOBAL (\S+)")
#: a per-process secret: aliases under it cannot be named by a file written in advance
_ALIAS = f"__edgekit_allowed_{secrets.token_hex(8)}"


class UnsafeCheckpointError(IntegrityError):
    """A checkpoint names a global outside the allowlist; nothing of it was run."""


def _resolve(name: str) -> Any | None:
    """The object an allowed global name stands for, or None when the policy refuses it."""
    module, _, attr = name.rpartition(".")
    if not module or attr.startswith("_"):
        return None
    if _NUMPY_RE.match(name):
        return _import_attr(module, attr)
    if name in _DATA:
        return _import_attr(*_DATA[name])
    torch = require("torch")
    if module in _MODULE_EXACT or module.startswith(_MODULE_PREFIXES):
        obj = _import_attr(module, attr)
        ok = isinstance(obj, type) and issubclass(obj, torch.nn.Module)
        return obj if ok else None
    if module in _CLASS_MODULES:
        obj = _import_attr(module, attr)
        return obj if isinstance(obj, type) and obj.__module__ == module else None
    return None


def _import_attr(module: str, attr: str) -> Any | None:
    try:
        return getattr(importlib.import_module(module), attr, None)
    except ImportError:
        return None


_C = TypeVar("_C")


def _new_only(cls: type[_C]) -> type:
    """A stand-in for ``cls`` that only ever makes a bare ``cls`` instance (no ``__init__``)."""

    class NewOnly:
        def __new__(_cls, *_args: Any, **_kwargs: Any) -> Any:
            return cls.__new__(cls)

    NewOnly.__qualname__ = NewOnly.__name__ = f"NewOnly[{cls.__qualname__}]"
    return NewOnly


def _entries(names: list[str], path: Path) -> list[tuple[Any, str]]:
    """torch safe-global entries for ``names``; refuses the first name outside the policy."""
    out: list[tuple[Any, str]] = []
    for i, name in enumerate(names):
        obj = _resolve(name)
        if obj is None:
            raise UnsafeCheckpointError(
                f"{path}: refused to open: it imports '{name}', which is not one of the classes "
                f"an Ultralytics detection checkpoint contains; nothing from the file was run "
                f"({TRUST_HINT})")
        if isinstance(obj, type) and not name.startswith("numpy"):
            # the real class under a secret alias, so BUILD accepts its bare instances
            out += [(_new_only(obj), name), (obj, f"{_ALIAS}.c{i}")]
        else:
            out.append((obj, name))
    return out


def scan_globals(path: Path) -> list[str]:
    """Every global a checkpoint's pickle names, read without running any of it: torch's own
    scanner for a ``torch.save`` zip, the pickle opcodes for a legacy (non-zip) file."""
    if zipfile.is_zipfile(path):
        torch = require("torch")
        try:
            return list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
        except Exception:  # a damaged archive: torch.load reports it
            return []
    found: list[str] = []
    with open(path, "rb") as fh:
        while True:  # a legacy torch.save file is several pickles in a row, then raw storage
            try:
                found += _pickle_globals(fh)
            except Exception:
                return found


def _pickle_globals(fh: Any) -> list[str]:
    """Globals of one pickle in ``fh`` (GLOBAL, and STACK_GLOBAL from the strings before it)."""
    import pickletools

    out: list[str] = []
    strings: list[Any] = []  # values pushed, enough to follow STACK_GLOBAL's two strings
    memo: dict[Any, Any] = {}
    ops = 0
    for op, arg, _pos in pickletools.genops(fh):
        ops += 1
        if op.name == "GLOBAL":
            out.append(str(arg).replace(" ", "."))
        elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
            out.append(f"{strings[-2]}.{strings[-1]}")
        elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
            strings.append(arg)
        elif op.name in ("MEMOIZE", "BINPUT", "LONG_BINPUT", "PUT") and strings:
            memo[len(memo) if op.name == "MEMOIZE" else arg] = strings[-1]
        elif op.name in ("BINGET", "LONG_BINGET", "GET") and arg in memo:
            strings.append(memo[arg])
    if not ops:
        raise EOFError
    return out


def read_checkpoint(path: Path, *, trust: bool = False) -> Any:
    """The unpickled object of a checkpoint, read weights-only against the allowlist."""
    torch = require("torch", purpose="reading a checkpoint")
    if trust:
        return torch.load(str(path), map_location="cpu", weights_only=False)
    names = list(dict.fromkeys(scan_globals(path)))
    with _allowed(_entries(names, path)):
        try:
            return torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            m = _GLOBAL_RE.search(str(exc))
            what = f"it imports '{m.group(1)}'" if m else "it is not a plain weights pickle"
            raise UnsafeCheckpointError(
                f"{path}: refused to open: {what}; nothing from the file was run "
                f"({TRUST_HINT})") from None


@contextlib.contextmanager
def _allowed(entries: list[tuple[Any, str]]) -> Iterator[None]:
    torch = require("torch")
    with torch.serialization.safe_globals(entries):
        yield


def load_detection_model(path: Path, *, trust: bool = False) -> Any:
    """The fp32 detection model of an Ultralytics checkpoint (``last.pt``/``best.pt`` from
    ``yolo train``, a ``model.save()``-d or ``torch.save``-d model), in eval mode on the CPU,
    prepared as Ultralytics' ``load_checkpoint`` prepares it."""
    torch = require("torch")
    try:
        ckpt = read_checkpoint(path, trust=trust)
    except IntegrityError:
        raise
    except Exception as exc:  # torch/zip/pickle raise many types for a damaged file
        first = str(exc).splitlines()[0] if str(exc) else "corrupt file"
        raise UsageError(f"cannot load checkpoint {path}: {type(exc).__name__}: {first}") from exc
    if isinstance(ckpt, torch.nn.Module):
        ckpt = {"model": ckpt}
    if not isinstance(ckpt, dict):
        raise UsageError(f"{path}: not an Ultralytics checkpoint (holds a {type(ckpt).__name__})")
    model = ckpt.get("ema") or ckpt.get("model")
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"{path}: not an Ultralytics checkpoint (no model in it)")
    if not all("_modules" in vars(m) for m in _walk(model)):
        # an allowed class was called rather than rebuilt from saved state (see _new_only)
        raise UnsafeCheckpointError(f"{path}: refused: its model was not saved as module state "
                                    f"(a constructor call in the pickle) ({TRUST_HINT})")
    from ultralytics.cfg import DEFAULT_CFG_DICT

    train_args = ckpt.get("train_args") or {}
    if not isinstance(train_args, dict):
        train_args = dict(vars(train_args)) if hasattr(train_args, "__dict__") else {}
    model = model.float()
    model.args = {**DEFAULT_CFG_DICT, **train_args}
    model.pt_path = str(path)
    if not hasattr(model, "stride"):
        model.stride = torch.tensor([32.0])
    for m in model.modules():
        if hasattr(m, "inplace"):
            m.inplace = True
        elif isinstance(m, torch.nn.Upsample) and not hasattr(m, "recompute_scale_factor"):
            m.recompute_scale_factor = None
    return model.eval()


def _walk(module: Any) -> Iterator[Any]:
    yield module
    for child in vars(module).get("_modules", {}).values():
        if child is not None:
            yield from _walk(child)


@contextlib.contextmanager
def restricted_build(cfg: dict[str, Any], spec: str) -> Iterator[None]:
    """Build a model from a YAML without ``eval``. A user's YAML is as untrusted as a user's
    checkpoint: Ultralytics ``eval``s its ``activation`` and calls whatever its layers name.
    Every layer must name a model layer class, and construction runs on Ultralytics'
    restricted path (an activation is parsed as a literal ``nn.X(...)`` call)."""
    torch = require("torch")
    tasks = importlib.import_module("ultralytics.nn.tasks")
    for layer in [*cfg.get("backbone", []), *cfg.get("head", [])]:
        name = layer[2] if isinstance(layer, (list, tuple)) and len(layer) > 2 else None
        obj = None
        if isinstance(name, str) and name.startswith("nn."):
            obj = getattr(torch.nn, name[3:], None)
        elif isinstance(name, str) and name.startswith("torchvision.ops."):
            obj = getattr(importlib.import_module("torchvision.ops"), name[16:], None)
        elif isinstance(name, str):
            obj = getattr(tasks, name, None)
        if not (isinstance(obj, type) and issubclass(obj, torch.nn.Module)):
            raise UsageError(f"{spec}: layer {layer!r} does not name a model layer class")
    safe = getattr(tasks, "_SafeLoad", None)
    local = getattr(safe, "_local", None)
    if safe is None or local is None or not getattr(safe, "SUPPORTED", False):
        if cfg.get("activation"):
            raise UsageError(f"{spec}: this ultralytics cannot build a YAML with an 'activation' "
                             "without eval; upgrade ultralytics or remove the line")
        yield
        return
    before = getattr(local, "active", False)
    local.active = True
    try:
        yield
    finally:
        local.active = before
