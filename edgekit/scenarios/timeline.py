"""A sustained run's timeline: per second, results and their p50, frames offered and
dropped, and the clocks (CPU frequencies from sysfs; on a Jetson its GPU clock and
temperatures); then throttling: a clock drop, or a drift of the service time's p50 between
the first and the last tenth of the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .engine import Run

CLOCK_DROP_PCT = 10.0
DRIFT_PCT = 10.0
MIN_RESULTS = 100


def read_clocks() -> dict[str, Any]:
    """CPU frequencies (MHz: mean, min, max over the CPUs sysfs shows), thermal zones (C),
    and a Jetson's GPU clock; empty where sysfs has none of them (a container)."""
    out: dict[str, Any] = {}
    mhz = []
    for f in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_cur_freq"):
        try:
            mhz.append(int(f.read_text().strip()) / 1000.0)
        except (OSError, ValueError):
            continue
    if mhz:
        out.update(cpu_mhz=float(np.mean(mhz)), cpu_mhz_min=min(mhz), cpu_mhz_max=max(mhz))
    temps = {}
    for z in Path("/sys/class/thermal").glob("thermal_zone*"):
        try:
            temps[(z / "type").read_text().strip()] = int((z / "temp").read_text()) / 1000.0
        except (OSError, ValueError):
            continue
    if temps:
        out["temps_c"] = temps
    from ..bench.jetson import sysfs_clocks

    gpu = sysfs_clocks().get("gpu_mhz")
    if gpu is not None:
        out["gpu_mhz"] = gpu
    return out


class Jtop:
    """jetson-stats' client (``jtop``), when it is installed and its service answers:
    clocks, temperatures and rail power as the library decodes them. Off a Jetson, or
    without the package, it reads nothing."""

    def __init__(self) -> None:
        self.client: Any = None
        try:
            import importlib

            client = importlib.import_module("jtop").jtop()  # jetson-stats
            client.start()
            self.client = client
        except Exception:  # noqa: BLE001 - not installed, no service, not a Jetson
            self.client = None

    def read(self) -> dict[str, Any]:
        if self.client is None:
            return {}
        try:
            stats = dict(self.client.stats)
        except Exception:  # noqa: BLE001 - the service went away mid-run
            return {}
        keep = ("CPU", "GPU", "Temp", "Power", "EMC", "Fan", "nvp model", "jetson_clocks")
        return {"jetson": {k: v for k, v in stats.items()
                           if any(k.startswith(p) for p in keep)
                           and isinstance(v, int | float | str)}}

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            finally:
                self.client = None


class Sampler:
    """Reads the clocks once per second of the run (called after each result); on a
    Jetson with jetson-stats, its readings too. ``close()`` when the run is over."""

    def __init__(self, read: Any = read_clocks, jetson: bool = True) -> None:
        self.read = read
        self.jtop = Jtop() if jetson else None
        self.samples: dict[int, dict[str, Any]] = {}

    def __call__(self, t_ns: int) -> None:
        sec = int(t_ns // 1_000_000_000)
        if sec not in self.samples:
            self.samples[sec] = {**self.read(), **(self.jtop.read() if self.jtop else {})}

    def close(self) -> None:
        if self.jtop is not None:
            self.jtop.close()


def timeline(run: Run, clocks: dict[int, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One row per second of the run: results (by completion), their latency p50, frames
    offered (by arrival) and dropped, and the clocks read in that second."""
    if not run.frames:
        return []
    sec = 1_000_000_000
    done = [f for f in run.frames if f.end is not None]
    end = np.asarray([f.end for f in done], dtype=np.int64)
    lat = (end - np.asarray([f.arrival for f in done], dtype=np.int64)) / 1e6
    arr = np.asarray([f.arrival for f in run.frames], dtype=np.int64) // sec
    drop = np.asarray([f.dropped_at for f in run.frames if f.dropped_at is not None],
                      dtype=np.int64) // sec
    n = int(max(end.max() // sec if len(end) else 0, arr.max())) + 1
    order = np.argsort(end // sec, kind="stable")
    groups = np.split(lat[order], np.searchsorted((end // sec)[order], np.arange(1, n)))
    offered = np.bincount(arr, minlength=n)
    dropped = np.bincount(drop, minlength=n) if len(drop) else np.zeros(n, dtype=int)
    return [{"t_s": t, "results": len(g), "p50_ms": float(np.median(g)) if len(g) else None,
             "offered": int(offered[t]), "dropped": int(dropped[t]),
             **(clocks or {}).get(t, {})} for t, g in enumerate(groups)]


def throttling(run: Run, rows: list[dict[str, Any]], *, drift_pct: float = DRIFT_PCT,
               clock_drop_pct: float = CLOCK_DROP_PCT) -> dict[str, Any]:
    """Throttling is suspected when the mean CPU (or GPU) clock of the last tenth of the
    timeline is ``clock_drop_pct`` below the first tenth's, or the service time's p50 of the
    last tenth of the results is ``drift_pct`` above the first tenth's. Needs 100 results."""
    done = [f for f in run.frames if f.end is not None]
    out: dict[str, Any] = {"detected": False, "reasons": [], "drift_pct_limit": drift_pct,
                           "clock_drop_pct_limit": clock_drop_pct}
    if len(done) < MIN_RESULTS:
        out["reasons"].append(f"too short to tell (fewer than {MIN_RESULTS} results)")
        out["checked"] = False
        return out
    out["checked"] = True
    tenth = len(done) // 10
    svc = [(f.end - f.start) / 1e6 for f in done]  # type: ignore[operator]
    a, b = float(np.median(svc[:tenth])), float(np.median(svc[-tenth:]))
    out.update(p50_first_ms=a, p50_last_ms=b, drift_pct=(b - a) / a * 100 if a > 0 else 0.0)
    if out["drift_pct"] > drift_pct:
        out["detected"] = True
        out["reasons"].append(f"service p50 drifted {out['drift_pct']:+.1f}% from the first "
                              f"to the last tenth ({a:.2f} -> {b:.2f} ms)")
    for key in ("cpu_mhz", "gpu_mhz"):
        vals = [r[key] for r in rows if r.get(key) is not None]
        if len(vals) >= 10:
            n = max(1, len(vals) // 10)
            first, lastv = float(np.mean(vals[:n])), float(np.mean(vals[-n:]))
            drop = (first - lastv) / first * 100 if first > 0 else 0.0
            out[f"{key}_drop_pct"] = drop
            if drop > clock_drop_pct:
                out["detected"] = True
                out["reasons"].append(f"{key.split('_')[0].upper()} clock fell {drop:.1f}% "
                                      f"({first:.0f} -> {lastv:.0f} MHz)")
    return out
