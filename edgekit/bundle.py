"""The bundle: a directory with model files, reference data and ``manifest.json``.

``manifest.json`` is written last and is the commit marker. A bundle is assembled in a
hidden temporary directory beside its final place and renamed into place, so a failed
or interrupted export leaves nothing under the final name. Loading validates the manifest
against the typed contract (:class:`Manifest`, defined in :mod:`edgekit.manifest` and
importable from here) and verifies the sha256 of every file it lists.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ._hashing import sha256_file
from ._registry import RUNTIMES
from .errors import IntegrityError, UsageError
from .graph import tap_tensors
from .manifest import (
    READABLE_VERSIONS,
    SCHEMA_VERSION,
    Head,
    Host,
    Images,
    ImageSet,
    InputSpec,
    Manifest,
    OutputSpec,
    ParityRecord,
    Reference,
    Resize,
    Source,
    Tap,
    manifest_from_v1,
    parse_manifest,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "MANIFEST", "READABLE_VERSIONS", "SCHEMA_VERSION", "Bundle", "BundleWriter", "Head", "Host",
    "ImageSet", "Images", "InputSpec", "Manifest", "OutputSpec", "ParityRecord", "Reference",
    "Resize", "Source", "Tap", "hash_tree", "load_bundle", "manifest_from_v1", "parse_manifest",
    "refuse_existing", "tap_tensors", "verify_files", "write_manifest",
]

MANIFEST = "manifest.json"
@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: Manifest

    def file(self, rel: str) -> Path:
        return self.path / rel

    @property
    def family(self) -> str:
        return self.manifest.source.family

    @property
    def taps(self) -> list[Tap]:
        return self.manifest.taps

    def artifact(self, runtime: str) -> Path | None:
        """The file ``runtime`` runs from this bundle (its plug-in says which; for a runtime
        not registered here, the artifact recorded under its name), or None."""
        if runtime not in RUNTIMES().runtime_names():
            rel = self.manifest.artifacts.get(runtime)
            return self.path / rel if rel else None
        return RUNTIMES().get_runtime(runtime).artifact_of(self)


def hash_tree(root: Path) -> dict[str, str]:
    """sha256 of every file under root except the manifest, keyed by relative POSIX path."""
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            out[p.relative_to(root).as_posix()] = sha256_file(p)
    return out


def write_manifest(root: Path, manifest: Manifest) -> Manifest:
    """Sign ``root`` (the sha256 of every file) into ``manifest`` and write it last."""
    manifest = manifest.replace(schema_version=SCHEMA_VERSION, files=hash_tree(root))
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(manifest.to_json())
    os.replace(tmp, root / MANIFEST)
    return manifest


def refuse_existing(final: Path) -> None:
    """A bundle already at ``final`` is replaced only when asked (``--force``)."""
    if final.exists():
        raise UsageError(f"bundle already exists: {final} (pass --force to replace it, or "
                         "--out for another folder)")


def _make_tmp_dir(final: Path) -> Path:
    """A new hidden directory beside ``final``. Unlike ``mkdtemp`` (always 0700), it gets
    the user's normal permissions: mode 0777 less the umask, as ``mkdir`` gives."""
    while True:
        tmp = final.with_name(f".{final.name}.partial-{secrets.token_hex(4)}")
        try:
            tmp.mkdir()
            return tmp
        except FileExistsError:
            continue


class BundleWriter:
    """Context manager: yields a temporary directory; on success renames it to ``final``.

    An existing bundle at ``final`` is refused (:class:`UsageError`, before and again at the
    commit) unless ``force``; then it is replaced only after the new one is complete.
    """

    def __init__(self, final: Path, *, force: bool = False) -> None:
        self.final = final
        self.force = force
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        if not self.force:
            refuse_existing(self.final)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = _make_tmp_dir(self.final)
        return self.tmp

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        assert self.tmp is not None
        if exc_type is not None or not (self.tmp / MANIFEST).is_file():
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        old = None
        if self.final.exists():
            if not self.force:  # another export got there while this one was building
                shutil.rmtree(self.tmp, ignore_errors=True)
                refuse_existing(self.final)
            old = self.final.with_name(f".{self.final.name}.old-{os.getpid()}")
            os.replace(self.final, old)
        os.replace(self.tmp, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return False


def load_bundle(path: str | Path, *, verify: bool = True) -> Bundle:
    """Read a bundle's manifest, validate it (a readable schema version, every field of its
    type) and by default verify every file's sha256; exit 4 when any of it fails."""
    root = Path(path)
    if not root.exists():
        raise UsageError(f"bundle not found: {root}")
    if not root.is_dir():
        raise UsageError(f"{root} is not a bundle directory")
    mf = root / MANIFEST
    if not mf.is_file():
        raise IntegrityError(f"{root}: no {MANIFEST}; not a bundle, or an incomplete export")
    try:
        data = json.loads(mf.read_text())
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{mf}: unreadable manifest: {exc}") from exc
    manifest = parse_manifest(data, mf)
    if verify:
        verify_files(root, manifest.files)
    return Bundle(root, manifest)


def verify_files(root: Path, files: dict[str, str]) -> None:
    for rel, digest in files.items():
        p = root / rel
        if not p.is_file():
            raise IntegrityError(f"{p}: listed in the manifest but missing")
        if sha256_file(p) != digest:
            raise IntegrityError(f"{p}: sha256 does not match the manifest (changed or truncated)")
