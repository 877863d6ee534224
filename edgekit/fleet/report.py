"""The fleet report as data: one row per cell, and against a baseline the slowdown and
speedup buckets, newly failing cells, and devices new or missing. Rendering is the CLI's;
the markdown form (step summary) is here, as the other reports' are."""

from __future__ import annotations

from typing import Any

#: ratio thresholds, largest first: a cell lands in the first it reaches
BUCKETS = (2.0, 1.5, 1.2, 1.1)
COLUMNS = ("cell", "device", "node", "state", "built", "parity", "map_drop", "p50_ms",
           "p99_ms", "max_fps", "realtime", "valid", "throttled", "note")


def row(doc: dict[str, Any]) -> dict[str, Any]:
    """What the table shows of one cell document."""
    jobs = doc.get("jobs") or {}
    parity = (jobs.get("parity") or {}).get("summary") or {}
    ev = (jobs.get("eval") or {}).get("summary") or {}
    bench = (jobs.get("bench") or {}).get("summary") or {}
    where = doc.get("where") or {}
    par = None
    if parity:
        par = "pass" if parity.get("passed") else (parity.get("first_divergent") or "fail")
    note = doc.get("error") or ""
    if doc.get("state") == "gate failed":
        note = f"gate {doc.get('gate')}: {note.split(': ', 1)[-1]}"
    return {"cell": doc["cell"]["id"], "device": doc["cell"]["device"],
            "node": str(where.get("node_id") or "")[:8], "state": doc["state"],
            "built": doc.get("built"), "parity": par, "map_drop": ev.get("map_drop"),
            "p50_ms": bench.get("p50_ms"), "p99_ms": bench.get("p99_ms"),
            "max_fps": bench.get("max_fps"), "realtime": bench.get("realtime"),
            "valid": bench.get("valid"), "throttled": bench.get("throttled"),
            "note": note, "log": doc.get("log")}


def bucket(ratio: float | None) -> str | None:
    """``slower >=1.5x``, ``faster >=1.1x``... or None (within 1.1x, or not comparable)."""
    if not ratio or ratio <= 0:
        return None
    for b in BUCKETS:
        if ratio >= b:
            return f"slower >={b:g}x"
        if 1 / ratio >= b:
            return f"faster >={b:g}x"
    return None


def compare(rows: list[dict[str, Any]], base: list[dict[str, Any]]) -> dict[str, Any]:
    """Each cell against the baseline's: p50 ratio and bucket, newly failing cells, devices
    (by matrix name) new or missing."""
    old = {r["cell"]: r for r in base}
    cells = {}
    for r in rows:
        b = old.get(r["cell"])
        if b is None:
            continue
        ratio = (r["p50_ms"] / b["p50_ms"]) if r.get("p50_ms") and b.get("p50_ms") else None
        cells[r["cell"]] = {"ratio": ratio, "bucket": bucket(ratio),
                            "newly_failing": b["state"] == "ok" and r["state"] != "ok",
                            "was": b["state"]}
    now_dev, was_dev = {r["device"] for r in rows}, {r["device"] for r in base}
    counts: dict[str, int] = {}
    for c in cells.values():
        if c["bucket"]:
            counts[c["bucket"]] = counts.get(c["bucket"], 0) + 1
    return {"cells": cells, "buckets": counts,
            "newly_failing": sorted(k for k, v in cells.items() if v["newly_failing"]),
            "new_devices": sorted(now_dev - was_dev), "missing_devices": sorted(was_dev - now_dev),
            "new_cells": sorted(set(r["cell"] for r in rows) - set(old)),
            "missing_cells": sorted(set(old) - set(r["cell"] for r in rows))}


def build_report(fleet: dict[str, Any], baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report document (``fleet report --json``): rows, states, the comparison. Passes
    when every cell is ok and nothing is newly failing."""
    rows = [row(d) for d in fleet["cells"]]
    rep: dict[str, Any] = {"schema": "edgekit.fleet.report/1", "rows": rows,
                           "states": fleet["summary"]["states"], "missing": fleet.get("missing", []),
                           "interrupted": fleet.get("interrupted", False)}
    if baseline is not None:
        rep["baseline"] = compare(rows, [row(d) for d in baseline["cells"]])
    rep["passed"] = all(r["state"] == "ok" for r in rows) and not rep["missing"]
    return rep


def fmt(v: Any) -> str:
    if v is None or v == "":
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def markdown(rep: dict[str, Any]) -> str:
    """The report as GitHub markdown (the step summary)."""
    states = ", ".join(f"{n} {s}" for s, n in sorted(rep["states"].items()))
    head = "✅ every cell ok" if rep["passed"] else "❌ not every cell ok"
    cols = [c for c in COLUMNS if c != "node"]
    lines = [f"### edgekit fleet: {head} ({states})", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rep["rows"]:
        lines.append("| " + " | ".join(fmt(r[c]).replace("|", "\\|") for c in cols) + " |")
    if rep["missing"]:
        lines += ["", f"Missing cells: {', '.join(rep['missing'])}"]
    base = rep.get("baseline")
    if base:
        lines += ["", "**Against the baseline:** " + (", ".join(
            f"{k}: {v}" for k, v in sorted(base["buckets"].items())) or "no cell moved 1.1x or more")]
        for key in ("newly_failing", "new_devices", "missing_devices"):
            if base[key]:
                lines.append(f"- {key.replace('_', ' ')}: {', '.join(base[key])}")
    return "\n".join(lines) + "\n"
