"""Portable bundles: exported once per model, profile and size where `fleet run` starts, and
shipped to the devices as a tar through Ray's object store (at most ``SHIP_LIMIT`` bytes), or
by path on storage every node mounts (``--shared DIR``) when larger."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .cell import edgekit_cmd, flags, portable_profile, run_step
from .matrix import Cell

#: the largest bundle shipped through the object store (every node's store must hold it
#: while a cell unpacks it); a larger one needs --shared
SHIP_LIMIT = 256 * 2**20


def export_bundle(cell: Cell, parent: Path) -> tuple[Path | None, dict[str, Any], str]:
    """Export ``cell``'s portable bundle under ``parent`` (a folder of its own): the bundle
    (None when the export failed), the step record, the export's log."""
    spec = Path(cell.model)
    if spec.is_dir():  # already a bundle
        return spec, {"exit": 0, "interval": [0.0, 0.0]}, ""
    if parent.exists():
        shutil.rmtree(parent)
    parent.mkdir(parents=True)
    lines: list[str] = []
    step = run_step("export", edgekit_cmd(
        "export", cell.model, "--profile", portable_profile(cell.profile), "--imgsz", str(cell.imgsz),
        "--out", str(parent), *flags(cell.export)), lines)
    found = [p for p in parent.iterdir() if (p / "manifest.json").is_file()]
    if step["exit"] in (0, 1) and not found:
        step.update(exit=70, error="export wrote no bundle")
    return (found[0] if found and step["exit"] in (0, 1) else None), step, "\n".join(lines)


def pack(bundle: Path) -> bytes:
    """A bundle folder as tar bytes (no compression: ONNX and IR weights barely shrink)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(bundle, arcname=bundle.name)
    return buf.getvalue()


def unpack(data: bytes, into: Path) -> Path:
    """Unpack :func:`pack`'s bytes under ``into``; the bundle folder."""
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        tar.extractall(into, filter="data")
        top = {Path(m.name).parts[0] for m in tar.getmembers()}
    if len(top) != 1:
        raise UsageError("a shipped bundle holds more than one folder")
    return into / top.pop()


def payload(bundle: Path, shared: Path | None, limit: int = SHIP_LIMIT) -> bytes | str:
    """What a task receives: the bundle's bytes, or its path under ``shared``."""
    if shared is not None:
        dest = shared / bundle.parent.name / bundle.name
        if dest.resolve() != bundle.resolve():
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(bundle, dest)
        return str(dest)
    data = pack(bundle)
    if len(data) > limit:
        raise UsageError(f"bundle {bundle.name} is {len(data) / 2**20:.0f} MiB, over the "
                         f"{limit / 2**20:.0f} MiB shipped through Ray's object store; pass "
                         "--shared DIR, a folder every node mounts at the same path")
    return data
