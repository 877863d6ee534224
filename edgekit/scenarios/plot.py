"""The scenario plot: latency over the run with the arrival clock and the dropped frames
marked, and the per-second timeline (results, p50, the CPU clock where sysfs has it)."""

from __future__ import annotations

from typing import Any

from .._lazy import require


def figure(report: dict[str, Any]) -> Any:
    matplotlib = require("matplotlib", extra="plot", purpose="--plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    runs = [(n, r["scenario"]) for n, r in report["backends"].items()
            if "samples" in r.get("scenario", {})]
    fig, axes = plt.subplots(len(runs) or 1, 2, figsize=(13, 4.2 * max(1, len(runs))),
                             squeeze=False)
    for (name, res), (ax1, ax2) in zip(runs, axes, strict=False):
        s = res["samples"]
        arr = np.asarray(s["arrival_ms"], dtype=float) / 1e3
        end = np.asarray([e if e is not None else np.nan for e in s["end_ms"]], dtype=float)
        lat = end - arr * 1e3
        ok = ~np.isnan(end)
        deadline = res.get("deadline_ms")
        miss = ok & (lat > deadline) if deadline else np.zeros(len(lat), dtype=bool)
        ax1.plot(arr[ok & ~miss], lat[ok & ~miss], ".", ms=2, label="arrival to result")
        if miss.any():
            ax1.plot(arr[miss], lat[miss], ".", ms=3, color="darkorange",
                     label=f"late ({int(miss.sum())})")
        drop = np.asarray([d is not None for d in s["dropped_ms"]])
        if drop.any():
            ax1.plot(arr[drop], np.zeros(drop.sum()), "x", color="red", ms=4,
                     label=f"dropped ({int(drop.sum())})")
        ymax = float(np.nanmax(lat)) if ok.any() else 1.0
        ax1.plot(arr, np.full(len(arr), -0.03 * ymax), "|", color="grey", ms=4, alpha=0.4,
                 label="arrivals")
        if deadline:
            ax1.axhline(deadline, color="red", ls="--", lw=1,
                        label=f"deadline {deadline:.1f} ms")
        ax1.set_xlabel("arrival (s)")
        ax1.set_ylabel("latency (ms)")
        ax1.set_title(f"{name}: {res['verdict']['headline']} ({res['validity']['result']})",
                      fontsize=9)
        ax1.legend(fontsize=7, loc="upper right")
        rows = res.get("timeline", [])
        t = [r["t_s"] for r in rows]
        ax2.bar(t, [r["results"] for r in rows], color="tab:blue", alpha=0.4, label="results/s")
        ax2.set_xlabel("time (s)")
        ax2.set_ylabel("results per second")
        ax3 = ax2.twinx()
        ax3.plot(t, [r["p50_ms"] if r["p50_ms"] is not None else np.nan for r in rows],
                 color="tab:orange", label="p50 ms")
        mhz = [r.get("cpu_mhz") for r in rows]
        if any(v is not None for v in mhz):
            ax3.plot(t, [v if v is not None else np.nan for v in mhz], color="tab:green",
                     label="CPU MHz")
        ax3.set_ylabel("p50 (ms) / MHz")
        ax3.legend(fontsize=7, loc="upper right")
        ax2.set_title("timeline" + (" — throttling suspected"
                                    if res.get("throttling", {}).get("detected") else ""),
                      fontsize=9)
    from ..bench.report import scenario_of, title

    cpu = (report.get("conditions", {}).get("cpu") or {}).get("model", "?")
    fig.suptitle(f"{scenario_of(report)}: {title(report)}\n{cpu}, {report.get('created', '')}",
                 fontsize=9)
    fig.tight_layout()
    return fig


def plot(report: dict[str, Any], path: str) -> None:
    from ..bench.report import save_figure

    save_figure(figure(report), path, dpi=100)
