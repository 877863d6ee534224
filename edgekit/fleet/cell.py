"""One cell: a bundle's jobs on this machine -> one result document. The pure function that
the shell form (``edgekit fleet cell``), a Ray task and a GitHub job all call.

Each job is the edgekit command itself, run as a subprocess (``python -m edgekit parity
BUNDLE --json FILE ...``): a job option ``key: value`` is the flag ``--key value``, so every
option the command has works here, and the exit code is the state (0 ok, 1 gate failed,
anything else failed)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .matrix import Cell

log = logging.getLogger(__name__)

SCHEMA = "edgekit.fleet.cell/1"
#: the final states, worst last: the worst state of a cell's steps is the cell's
STATES = ("ok", "gate failed", "failed", "no device", "lost")
#: a Ray resource each device node offers once: one edgekit job at a time per device
DEVICE_RESOURCE = "edgekit-device"


def flags(options: dict[str, Any]) -> list[str]:
    """Job options as command-line flags: ``k: v`` -> ``--k v``; ``k: true`` -> ``--k``;
    ``k: false`` -> ``--no-k``; a list repeats the flag."""
    out: list[str] = []
    for key, value in options.items():
        flag = "--" + str(key).replace("_", "-")
        if value is True:
            out.append(flag)
        elif value is False:
            out.append("--no-" + flag[2:])
        elif value is None:
            continue
        else:
            for v in value if isinstance(value, list) else [value]:
                out += [flag, str(v)]
    return out


def edgekit_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "edgekit", *args]


def _error_line(stderr: str) -> str:
    """The one-line error an edgekit command printed (its last ``edgekit: error:`` line)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errs = [ln for ln in lines if ln.startswith("edgekit: error:")]
    line = errs[-1].removeprefix("edgekit: error:").strip() if errs else (lines[-1] if lines else "")
    return line[:300]


def run_step(name: str, cmd: list[str], log_lines: list[str]) -> dict[str, Any]:
    """Run one command; its interval (wall clock, for placement checks), exit code, error
    line. Its output goes to the cell's log."""
    t0 = time.time()
    env = dict(os.environ, COLUMNS="120")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    t1 = time.time()
    log_lines += [f"$ {' '.join(cmd)}", proc.stdout, proc.stderr, f"[exit {proc.returncode}]"]
    step: dict[str, Any] = {"exit": proc.returncode, "interval": [t0, t1]}
    if proc.returncode:
        step["error"] = _error_line(proc.stderr) or f"{name} exited with {proc.returncode}"
    return step


def sleep_step(options: dict[str, Any], log_lines: list[str]) -> dict[str, Any]:
    """The stand-in job: sleeps ``seconds``, exits with ``exit`` (default 0)."""
    t0 = time.time()
    time.sleep(float(options.get("seconds", 1.0)))
    code = int(options.get("exit", 0))
    log_lines.append(f"sleep {options.get('seconds', 1.0)} s, exit {code}")
    step: dict[str, Any] = {"exit": code, "interval": [t0, time.time()]}
    if code:
        step["error"] = f"sleep job exited with {code}"
    return step


def needs_device_build(profile: str) -> bool:
    """Whether the profile's artifacts are built on the device (TensorRT engines)."""
    from ..profiles import load_profile
    from ..runtimes import get_runtime

    return not all(get_runtime(r).portable for r in load_profile(profile).runtimes)


def portable_profile(profile: str) -> str:
    """The profile the shipped bundle is exported with: the cell's own, or for a device
    build (TensorRT) the portable ONNX bundle its engine is built from."""
    return "onnx-fp32" if needs_device_build(profile) else profile


def job_report(kind: str, report: dict[str, Any] | None) -> dict[str, Any]:
    """What the fleet table shows of one job's JSON report."""
    if not report:
        return {}
    backends = report.get("backends") or {}
    if kind == "parity":
        firsts = [f"{k}: {v['first_divergent']}" for k, v in backends.items() if v.get("first_divergent")]
        return {"passed": report.get("passed"), "first_divergent": firsts[0] if firsts else None}
    if kind == "eval":
        drops = [v.get("drop_map50_95") for v in backends.values() if v.get("drop_map50_95") is not None]
        return {"passed": report.get("passed"), "map_drop": max(drops) if drops else None}
    if kind == "bench":
        out: dict[str, Any] = {"passed": (report.get("verdict") or {}).get("passed")}
        for name, b in backends.items():
            # a scenario's latency is arrival to result (end_to_end); bench's, end to end
            # when it was timed, else model-only
            timing = b.get("end_to_end") or b.get("model_only") or {}
            scen = b.get("scenario") or {}
            out.update(backend=name, p50_ms=timing.get("p50"), p99_ms=timing.get("p99"),
                       max_fps=b.get("max_sustained_fps"),
                       realtime=scen.get("realtime"),
                       valid=(scen.get("validity") or {}).get("valid") if scen else None,
                       throttled=(scen.get("throttling") or {}).get("detected") if scen else None)
            break
        if out.get("throttled") is None:
            tegra = (report.get("conditions") or {}).get("tegrastats") or {}
            out["throttled"] = tegra.get("throttled") if isinstance(tegra, dict) else None
        return out
    return {}


def run_cell(cell: Cell, bundle: Path, work: Path) -> dict[str, Any]:
    """Run ``cell``'s jobs on ``bundle`` here, in ``work`` (reports and a copy of the bundle
    when it is built on). Returns the cell's document; ``log`` holds the full output."""
    from .where import fingerprint

    work.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    doc: dict[str, Any] = {"schema": SCHEMA, "cell": cell.to_json(), "inputs": cell.inputs_hash,
                           "jobs": {}, "fingerprint": fingerprint()}
    built = True
    if bundle.is_dir() and needs_device_build(cell.profile):
        step = run_step("build", edgekit_cmd("export", str(bundle), "--profile", cell.profile), lines)
        doc["jobs"]["build"] = step
        built = step["exit"] == 0
    doc["built"] = built
    for kind, options in cell.jobs.items():
        if not built:
            break
        if kind == "sleep":
            doc["jobs"][kind] = sleep_step(options, lines)
            continue
        out = work / f"{kind}.json"
        step = run_step(kind, edgekit_cmd(kind, str(bundle), "--json", str(out), *flags(options)), lines)
        if out.is_file():
            try:
                report = json.loads(out.read_text())
            except (OSError, ValueError):
                report = None
            step["summary"], step["report"] = job_report(kind, report), report
        doc["jobs"][kind] = step
    doc.update(verdict(doc["jobs"]))
    doc["log"] = "\n".join(lines)
    return doc


def verdict(jobs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A cell's state from its steps: any failed -> failed (its error); else any gate
    failed -> gate failed (naming the gate); else ok."""
    failed = [(k, s) for k, s in jobs.items() if s["exit"] not in (0, 1)]
    if failed:
        k, s = failed[0]
        return {"state": "failed", "error": f"{k}: {s.get('error', '')}"}
    gated = [(k, s) for k, s in jobs.items() if s["exit"] == 1]
    if gated:
        k, s = gated[0]
        return {"state": "gate failed", "gate": k, "error": f"{k}: {s.get('error', '')}"}
    return {"state": "ok"}
