"""Where edgekit writes: checked before the work that would fill it, and a full disk named.

Lightweight (stdlib only): the CLI uses it before anything heavy is imported.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import UsageError

_FULL = (errno.ENOSPC, errno.EDQUOT)


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe(folder: Path, what: str) -> None:
    """Create and remove a file in ``folder``: the only test of writability that also holds
    for root, read-only mounts and ACLs."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".edgekit-probe-"):
            pass
    except OSError as exc:
        raise UsageError(f"{what}: cannot write in {folder} ({exc.strerror or exc})") from exc


def check_writable_dir(path: str | Path, what: str) -> None:
    """``path`` is, or can be created as, a directory edgekit can write in. Creates nothing."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"{what} {p} is an existing file; it must be a directory")
    base = _nearest_existing(p)
    if not base.is_dir():
        raise UsageError(f"{what} {p}: {base} is a file, not a directory")
    _probe(base, f"{what} {p}")


def check_writable_file(path: str | Path | None, what: str) -> None:
    """A report file (``-`` = stdout) can be written: its folder exists and takes files."""
    if path is None or str(path) == "-":
        return
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{what} {p} is a directory; give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{what} {p}: the folder {parent} does not exist")
    _probe(parent, f"{what} {p}")
    if p.exists():
        try:
            with open(p, "ab"):
                pass
        except OSError as exc:
            raise UsageError(f"{what} {p}: cannot write it ({exc.strerror or exc})") from exc


def is_disk_full(exc: BaseException | None) -> bool:
    """The error, or one it was raised from, is 'no space left' (or over quota). Libraries
    that write from C report it in their own exception type, with the OS message."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in _FULL:
            return True
        if any(os.strerror(e) in str(exc) for e in _FULL):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _mb(n: float) -> str:
    return f"{max(n / 2**20, 1):,.0f} MB"


@contextlib.contextmanager
def disk_full_is_usage_error(folder: Path, need_bytes: Callable[[], float]) -> Iterator[None]:
    """Turn a full disk while writing under ``folder`` into one line (exit 2) that names the
    folder and about how much space the output needs. Use it outside the writer that
    cleans up, so that nothing is left behind when it is raised."""
    try:
        yield
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        try:
            free = f"; {_mb(shutil.disk_usage(_nearest_existing(folder)).free)} free"
        except OSError:
            free = ""
        raise UsageError(f"no space left on the device of {folder}: the bundle needs roughly "
                         f"{_mb(need_bytes())}{free}. Free some space or "
                         "choose another --out; nothing was left behind") from exc


def tree_bytes(root: Path) -> int:
    """Total size of the files under root."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
