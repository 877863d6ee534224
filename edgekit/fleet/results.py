"""Result documents on disk: one file per cell (``cells/<id>.json``, its log beside it in
``logs/``), and the merged ``fleet.json``. Ray runs and GitHub jobs write the same files;
`fleet report` reads either."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import EdgekitError, UsageError
from .cell import SCHEMA
from .matrix import Matrix

FLEET_SCHEMA = "edgekit.fleet/1"
#: states a resumed run keeps: the verdict is in. failed, no device and lost run again.
COMPLETE = ("ok", "gate failed")


class Interrupted(EdgekitError):
    """Ctrl-C during `fleet run`: running cells cancelled, finished ones written."""

    exit_code = 130


def _atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_cell(out: Path, doc: dict[str, Any]) -> Path:
    """``out/cells/<id>.json``; the log text goes to ``out/logs/<id>.log`` and the document
    keeps its path."""
    cid = doc["cell"]["id"]
    text = doc.pop("log", None)
    if text:
        _atomic(out / "logs" / f"{cid}.log", text)
        doc["log"] = f"logs/{cid}.log"
    doc.setdefault("finished", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    path = out / "cells" / f"{cid}.json"
    _atomic(path, json.dumps(doc, indent=2, default=str) + "\n")
    return path


def load_cells(folder: Path) -> dict[str, dict[str, Any]]:
    """Every cell document under ``folder`` (a `fleet run --out`, or downloaded GitHub
    artifacts in any layout), by cell id; the newest wins where one cell appears twice."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder of fleet results")
    docs: dict[str, dict[str, Any]] = {}
    for p in sorted(folder.rglob("*.json")):
        try:
            doc = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("schema") == SCHEMA:
            cid = doc["cell"]["id"]
            if cid not in docs or doc.get("finished", "") >= docs[cid].get("finished", ""):
                docs[cid] = doc
    return docs


def done_cells(out: Path, matrix: Matrix) -> dict[str, str]:
    """Cells of ``matrix`` already complete under ``out`` with the same inputs: id -> state."""
    if not (out / "cells").is_dir():
        return {}
    have = load_cells(out / "cells")
    return {c.id: have[c.id]["state"] for c in matrix.cells
            if c.id in have and have[c.id].get("inputs") == c.inputs_hash
            and have[c.id].get("state") in COMPLETE}


def merge(docs: dict[str, dict[str, Any]], *, expected: list[str] | None = None,
          source: str | None = None, interrupted: bool = False) -> dict[str, Any]:
    """The merged fleet document: every cell, the states counted, cells expected but absent."""
    cells = [docs[k] for k in sorted(docs)]
    return {"schema": FLEET_SCHEMA, "matrix": source, "interrupted": interrupted,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "summary": {"cells": len(cells), "states": dict(Counter(d["state"] for d in cells))},
            "missing": [c for c in (expected or []) if c not in docs],
            "cells": cells}


def write_fleet(out: Path, matrix: Matrix, *, interrupted: bool = False) -> dict[str, Any]:
    """``out/fleet.json`` from the cell files of this matrix under ``out``."""
    ids = [c.id for c in matrix.cells]
    docs = {k: v for k, v in load_cells(out / "cells").items() if k in ids} \
        if (out / "cells").is_dir() else {}
    fleet = merge(docs, expected=ids, source=matrix.source, interrupted=interrupted)
    _atomic(out / "fleet.json", json.dumps(fleet, indent=2, default=str) + "\n")
    return fleet
