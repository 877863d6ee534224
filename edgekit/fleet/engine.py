"""The matrix on Ray: export where `fleet run` starts, submit one task per cell with the
device's label selector and one ``edgekit-device`` resource, collect documents. Placement,
retries (once, on another matching node) and node loss are Ray's."""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._lazy import require
from ..errors import BackendError, EdgekitError, UsageError
from .bundles import SHIP_LIMIT, export_bundle, payload
from .cell import DEVICE_RESOURCE, run_cell, verdict
from .matrix import Cell, Matrix
from .results import Interrupted, done_cells, write_cell, write_fleet

log = logging.getLogger(__name__)

#: exceptions of ray.get that mean the task's node or worker died (after Ray's retry)
_LOST = ("NodeDiedError", "WorkerCrashedError", "ObjectLostError", "LocalRayletDiedError",
         "OwnerDiedError", "ObjectReconstructionFailedError")
LOCAL = ("local", "127.0.0.1", "localhost")


def is_local(address: str | None) -> bool:
    """A fleet of this machine: no address, ``local``, or a head on loopback."""
    return address in (None, "local") or \
        str(address).removeprefix("ray://").rpartition(":")[0] in LOCAL


def import_ray(address: str | None = None):
    """Ray. For a fleet on this machine, every process it starts and every connection
    stays on loopback (Ray reads this switch when first imported)."""
    if is_local(address):
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    return require("ray", extra="fleet", purpose="edgekit fleet")


def check_address(address: str | None, timeout: float = 3.0) -> None:
    """An unreachable head is refused before anything is exported or submitted (exit 3)."""
    if address in (None, "local", "auto"):
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"--address {address}: expected HOST:PORT (the head's GCS port, 6379 "
                         "by default), or 'local'")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise BackendError(f"--address {address}: the Ray head cannot be reached "
                           f"({exc.strerror or exc})") from exc


def connect(address: str | None, *, object_store_memory: int | None = None) -> Any:
    """Join the fleet at ``address`` as its driver, or start a one-device fleet here
    (``local``: this machine, with its doctor labels, on loopback)."""
    ray = import_ray(address)
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING,
                             "include_dashboard": False}
    if address in (None, "local"):
        from .where import host_labels

        ray.init(labels=host_labels(), resources={DEVICE_RESOURCE: 1},
                 object_store_memory=object_store_memory, _node_ip_address="127.0.0.1", **quiet)
    else:
        if is_local(address):  # a head on this machine: stay on loopback
            quiet["_node_ip_address"] = "127.0.0.1"
        ray.init(address=address, **quiet)
    return ray


def ray_cell(cell_doc: dict[str, Any], shipped: bytes | str) -> dict[str, Any]:
    """The Ray task: unpack the bundle in a temporary folder, run the cell, say where."""
    import shutil
    import tempfile

    import ray

    from .bundles import unpack
    from .cell import SCHEMA, needs_device_build

    ctx = ray.get_runtime_context()
    labels = {k: ",".join(v) if isinstance(v, list) else str(v)
              for k, v in (ctx.get_node_labels() or {}).items()}
    cell = Cell.from_json(cell_doc)
    # Ray pins OMP_NUM_THREADS to a task's CPUs (1 for num_cpus=0); the jobs run as they
    # would in the device's shell, where the runtimes choose their own threads
    if os.environ.get("OMP_NUM_THREADS") == "1":
        del os.environ["OMP_NUM_THREADS"]
    with tempfile.TemporaryDirectory(prefix="edgekit-fleet-") as tmp:
        try:
            if isinstance(shipped, bytes):
                bundle = unpack(shipped, Path(tmp) / "bundle")
            else:
                bundle = Path(shipped)
                if needs_device_build(cell.profile):  # built on: a copy of its own
                    bundle = Path(shutil.copytree(bundle, Path(tmp) / "bundle" / bundle.name))
            doc = run_cell(cell, bundle, Path(tmp) / "work")
        except Exception as exc:  # a bug or a broken node: still one document
            doc = {"schema": SCHEMA, "cell": cell.to_json(), "inputs": cell.inputs_hash,
                   "jobs": {}, "built": False, "state": "failed",
                   "error": f"{type(exc).__name__}: {exc}"[:300], "log": traceback.format_exc()}
    doc["where"] = {"engine": "ray", "node_id": ctx.get_node_id(), "labels": labels}
    return doc


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Ray's label selector semantics: ``v``, ``!v``, ``in(a,b)``, ``!in(a,b)``."""
    for key, want in selector.items():
        have = labels.get(key)
        neg = want.startswith("!")
        want = want[1:] if neg else want
        values = ([v.strip() for v in want[3:-1].split(",")] if want.startswith("in(") else [want])
        if (have in values) == neg:
            return False
    return True


def device_nodes(ray: Any) -> list[dict[str, Any]]:
    """Alive nodes that offer the device resource: (node id, labels)."""
    return [{"id": n["NodeID"], "labels": n.get("Labels") or {}} for n in ray.nodes()
            if n.get("Alive") and n.get("Resources", {}).get(DEVICE_RESOURCE)]


def unplaced(cell: Cell, state: str, why: str) -> dict[str, Any]:
    from .cell import SCHEMA

    return {"schema": SCHEMA, "cell": cell.to_json(), "inputs": cell.inputs_hash, "jobs": {},
            "built": None, "state": state, "error": why}


def _export_all(cells: list[Cell], out: Path) -> tuple[dict[tuple, Path], dict[str, dict]]:
    """One export per (model, profile, size): its bundle, or each of its cells' failed doc."""
    bundles: dict[tuple, Path] = {}
    failed: dict[str, dict[str, Any]] = {}
    for build in dict.fromkeys(c.build for c in cells):
        first = next(c for c in cells if c.build == build)
        folder = out / "bundles" / first.id.rsplit("@", 1)[0]
        log.info("exporting %s %s at %d px", *build)
        bundle, step, text = export_bundle(first, folder)
        if bundle is not None:
            bundles[build] = bundle
            continue
        for c in cells:
            if c.build == build:
                failed[c.id] = {**unplaced(c, "failed", f"export: {step.get('error', '')}"),
                                "built": False, "jobs": {"export": step}, "log": text}
    return bundles, failed


def run_matrix(matrix: Matrix, out: Path, *, address: str | None = None,
               device_timeout: float = 300.0, shared: Path | None = None,
               ship_limit: int = SHIP_LIMIT, object_store_memory: int | None = None,
               on_progress: Callable[[dict[str, str]], None] | None = None,
               poll: float = 0.5) -> dict[str, Any]:
    """Run every cell not already complete under ``out``; write each cell's document, its
    log, and the merged ``fleet.json``; return that merged document."""
    import_ray(address)  # ray missing: one line naming the extra, before any export
    check_address(address)
    out.mkdir(parents=True, exist_ok=True)
    done = done_cells(out, matrix)
    todo = [c for c in matrix.cells if c.id not in done]
    states = {c.id: ("resumed: " + done[c.id]) if c.id in done else "pending" for c in matrix.cells}
    report = on_progress or (lambda _s: None)
    bundles, failed = _export_all(todo, out)
    for cid, doc in failed.items():
        write_cell(out, doc)
        states[cid] = doc["state"]
    todo = [c for c in todo if c.id not in failed]
    report(states)
    if not todo:
        return write_fleet(out, matrix)
    ray = connect(address, object_store_memory=object_store_memory)
    try:
        return _submit_and_collect(ray, matrix, todo, bundles, out, states, report,
                                   device_timeout=device_timeout, shared=shared,
                                   ship_limit=ship_limit, poll=poll)
    finally:
        ray.shutdown()


def _submit_and_collect(ray, matrix, todo, bundles, out, states, report, *, device_timeout,
                        shared, ship_limit, poll) -> dict[str, Any]:
    task = ray.remote(ray_cell)
    shipped = {b: ray.put(payload(p, shared, ship_limit)) for b, p in bundles.items()}
    refs: dict[Any, Cell] = {}
    for c in todo:
        ref = task.options(label_selector=c.selector, resources={DEVICE_RESOURCE: 1}, num_cpus=0,
                           max_retries=1, retry_exceptions=False, name=f"edgekit-{c.id}"
                           ).remote(c.to_json(), shipped[c.build])
        refs[ref] = c
        states[c.id] = "submitted"
    report(states)
    seen: dict[str, float] = {c.id: time.monotonic() for c in todo}  # last time a node matched
    matched_once: set[str] = set()
    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=poll)
            for ref in ready:
                c = refs.pop(ref)
                doc = _collect(ray, ref, c)
                write_cell(out, doc)
                states[c.id] = doc["state"]
            nodes = device_nodes(ray)
            now = time.monotonic()
            for ref, c in list(refs.items()):
                if any(_matches(c.selector, n["labels"]) for n in nodes):
                    seen[c.id] = now
                    matched_once.add(c.id)
                elif now - seen[c.id] > device_timeout:
                    ray.cancel(ref, force=True)
                    refs.pop(ref)
                    doc = (unplaced(c, "lost", "every node matching the selector died") if
                           c.id in matched_once else
                           unplaced(c, "no device", f"no node matched {c.selector} within "
                                    f"{device_timeout:g} s"))
                    write_cell(out, doc)
                    states[c.id] = doc["state"]
            report(states)
    except KeyboardInterrupt:
        for ref in refs:
            ray.cancel(ref, force=True)
        fleet = write_fleet(out, matrix, interrupted=True)
        raise Interrupted(f"interrupted: {len(refs)} cell(s) cancelled; {fleet['summary']['cells']} "
                          f"finished cell(s) written to {out / 'fleet.json'}") from None
    return write_fleet(out, matrix)


def _collect(ray, ref, cell: Cell) -> dict[str, Any]:
    try:
        return ray.get(ref)
    except Exception as exc:
        name = type(exc).__name__
        if any(n in name for n in _LOST):
            return unplaced(cell, "lost", f"{name}: the node died (Ray retried once)")
        msg = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else name
        return {**unplaced(cell, "failed", f"{name}: {msg}"), "log": str(exc)}


def run_shell_cell(matrix: Matrix, cell_id: str, out: Path, bundle: Path | None = None) -> dict[str, Any]:
    """`edgekit fleet cell`: one cell here (no Ray), exporting it first unless ``bundle`` is
    given; its document under ``out`` exactly as a Ray run writes it."""
    import platform
    import tempfile

    from .where import host_labels

    cell = matrix.cell(cell_id)
    with tempfile.TemporaryDirectory(prefix="edgekit-cell-") as tmp:
        if bundle is None:
            bundle, step, text = export_bundle(cell, Path(tmp) / "bundles")
            if bundle is None:
                doc = {**unplaced(cell, "failed", f"export: {step.get('error', '')}"),
                       "built": False, "jobs": {"export": step}, "log": text}
        if bundle is not None:
            try:
                doc = run_cell(cell, bundle, Path(tmp) / "work")
            except EdgekitError as exc:
                doc = {**unplaced(cell, "failed", str(exc)), "built": False}
    doc["where"] = {"engine": "shell", "node_id": platform.node(), "labels": host_labels()}
    doc.setdefault("state", verdict(doc.get("jobs", {}))["state"])
    write_cell(out, doc)
    return doc
