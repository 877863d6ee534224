"""``edgekit report``: one self-contained HTML page for a bundle: what it is, parity along
the network per runtime, the detections of PyTorch and each runtime on its reference images,
latency, accuracy, tune's search and a fleet's matrix.

The data model (:mod:`.model`, plain dataclasses built from the JSON documents) is apart from
the page (:mod:`.html`); :func:`build` makes the one, :func:`write_html` the other. Every
input is checked (:func:`check_inputs`) before the bundle is run.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from .model import Report

if TYPE_CHECKING:
    from ..bundle import Bundle

__all__ = ["KINDS", "Inputs", "Report", "build", "check_inputs", "load_document", "open_bundle", "write_html"]

log = logging.getLogger(__name__)

#: what each option takes: the schema its document names (``edgekit.<kind>/<version>``)
KINDS = {"--parity": "parity", "--bench": "bench", "--eval": "eval", "--tune": "tune"}
FLEET_FILE = "fleet.json"


@dataclass(frozen=True)
class Inputs:
    """The documents a report is built from, read and checked."""

    parity: dict[str, Any] | None = None
    bench: tuple[tuple[str, dict[str, Any]], ...] = ()
    eval: dict[str, Any] | None = None
    tune: dict[str, Any] | None = None
    fleet: dict[str, Any] | list[Any] | None = None
    sources: tuple[tuple[str, str], ...] = ()


def load_document(path: str | Path, option: str) -> dict[str, Any]:
    """A JSON report of the kind ``option`` takes; anything else is a usage error naming
    the file, the kind found and the command that writes the right one."""
    kind = KINDS[option]
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{option} {path}: not a readable JSON report: {exc}") from exc
    schema = doc.get("schema") if isinstance(doc, dict) else None
    if not isinstance(schema, str) or schema.split("/")[0] != f"edgekit.{kind}":
        raise UsageError(f"{option} {path}: not an edgekit {kind} report (schema "
                         f"{schema or 'missing'}; write one with `edgekit {kind} --json FILE`)")
    assert isinstance(doc, dict)
    return doc


def check_inputs(*, parity: str | Path | None = None, bench: list[str | Path] | None = None,
                 eval: str | Path | None = None, tune: str | Path | None = None,  # noqa: A002
                 fleet: str | Path | None = None) -> Inputs:
    """Read every given document and check its kind: before any work."""
    sources = []
    fleet_doc = None
    if fleet is not None:
        d = Path(fleet)
        if not d.is_dir():
            raise UsageError(f"--fleet {fleet}: not a directory")
        f = d / FLEET_FILE
        if f.is_file():
            try:
                fleet_doc = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise UsageError(f"--fleet {f}: not readable JSON: {exc}") from exc
            sources.append(("fleet", str(f)))
        else:
            sources.append(("fleet", f"{d} has no {FLEET_FILE}"))
    docs = {o: load_document(p, o) for o, p in (("--parity", parity), ("--eval", eval),
                                                 ("--tune", tune)) if p is not None}
    benches = tuple((str(p), load_document(p, "--bench")) for p in bench or ())
    sources += [(o.lstrip("-"), str(p)) for o, p in (("--parity", parity), ("--eval", eval),
                                                     ("--tune", tune)) if p is not None]
    sources += [("bench", p) for p, _ in benches]
    return Inputs(docs.get("--parity"), benches, docs.get("--eval"), docs.get("--tune"),
                  fleet_doc, tuple(sources))


def _fleet_table(doc: Any) -> Any:
    from .model import table

    cells = doc.get("cells", doc.get("results")) if isinstance(doc, dict) else doc
    if isinstance(cells, dict):
        cells = [{"cell": k, **v} if isinstance(v, dict) else {"cell": k, "value": v}
                 for k, v in cells.items()]
    if not isinstance(cells, list):
        cells = [doc] if isinstance(doc, dict) else []
    rows = [c if isinstance(c, dict) else {"value": c} for c in cells]
    note = doc.get("schema", "") if isinstance(doc, dict) else ""
    return table("fleet", rows, note=str(note))


def _tune_table(doc: dict[str, Any]) -> Any:
    from .model import table

    rows = [{**c, "chosen": "◀" if c.get("label") == doc.get("chosen") else ""}
            for c in doc.get("candidates", []) if isinstance(c, dict)]
    return table("tune", rows, note=f"{doc.get('backend', '')}: chose {doc.get('chosen')} "
                                    f"({doc.get('why', '')})")


def open_bundle(path: str | Path) -> Bundle:
    """The bundle to report on, verified: a folder without a manifest is a usage error (it
    is not a bundle: exit 2); a file whose hash differs an integrity error (exit 4)."""
    from ..bundle import MANIFEST, load_bundle

    p = Path(path)
    if not (p / MANIFEST).is_file():
        raise UsageError(f"{p}: not a bundle (no {MANIFEST}); give a folder written by "
                         "`edgekit export`" if p.is_dir() else f"bundle not found: {p}")
    return load_bundle(p)


def build(bundle: str | Path | Bundle, inputs: Inputs | None = None, *,
          backends: list[str] | None = None, images: int = 3) -> Report:
    """The report's data for ``bundle`` (verified: :class:`IntegrityError` when a file's hash
    differs). Parity comes from ``inputs.parity``, else the bundle's own ``parity.json``,
    else it is run; the detections are drawn by running each runtime on up to ``images``
    reference images."""
    from ..bundle import Bundle
    from .model import bundle_section, eval_section, latency_series, parity_series

    inputs = inputs or Inputs()
    b = bundle if isinstance(bundle, Bundle) else open_bundle(bundle)
    prof = b.manifest.profile
    runtimes = backends or [r for r in prof.runtimes if b.artifact(r) is not None]
    pdoc, psrc = inputs.parity, "parity: from --parity"
    if pdoc is None and b.file("parity.json").is_file():
        pdoc = json.loads(b.file("parity.json").read_text())
        psrc = "parity: the bundle's parity.json, written and signed at export"
    if pdoc is None:
        from ..parity.run import run_parity

        log.info("no parity.json in the bundle: running parity on %s", ", ".join(runtimes))
        pdoc, psrc = run_parity(b, prof, runtimes), "parity: run now"

    def tolerance(kind: str) -> Any:
        return prof.tolerance(kind, pdoc.get("precision") if pdoc else None)

    from ..errors import EdgekitError

    note = ""
    try:
        from .overlay import overlays

        ovs = overlays(b, runtimes, count=images)
    except EdgekitError as exc:  # a runtime missing here: the rest of the page still helps
        ovs, note = (), f"detections not drawn: {exc}"
    latency = tuple(s for src, doc in inputs.bench for s in latency_series(doc, Path(src).name))
    return Report(
        bundle=bundle_section(b), parity=parity_series(pdoc, tolerance), parity_source=psrc,
        overlays=ovs, overlay_note=note, latency=latency,
        accuracy=eval_section(inputs.eval) if inputs.eval else None,
        tune=_tune_table(inputs.tune) if inputs.tune else None,
        fleet=_fleet_table(inputs.fleet) if inputs.fleet is not None else None,
        given=dict(inputs.sources))


def write_html(report: Report, out: str | Path) -> int:
    """Write the page to ``out`` whole (never half-written); returns its size in bytes."""
    from .html import render

    text = render(report).encode("utf-8")
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(text)
    os.replace(tmp, out)
    return len(text)
