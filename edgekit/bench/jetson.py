"""Jetson conditions during a run: power mode, clocks, temperatures and rail power, read
from tegrastats (or sysfs) when present. Stdlib only; nothing happens off a Jetson."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

_TEMP = re.compile(r"([A-Za-z0-9_]+)@(-?[\d.]+)C")
_RAIL = re.compile(r"([A-Z][A-Z0-9_]+) (\d+)mW/(\d+)mW")
_GPU = re.compile(r"GR3D_FREQ (\d+)%(?:@\[?(\d+)\]?)?")
_EMC = re.compile(r"EMC_FREQ (\d+)%(?:@(\d+))?")


def parse_tegrastats(line: str) -> dict[str, Any]:
    """One tegrastats line -> temperatures (C), rail power (mW), GPU and EMC load/clock."""
    out: dict[str, Any] = {
        "temps_c": {k: float(v) for k, v in _TEMP.findall(line)},
        "power_mw": {k: int(now) for k, now, _avg in _RAIL.findall(line)},
    }
    if m := _GPU.search(line):
        out["gpu_load_pct"] = int(m.group(1))
        if m.group(2):
            out["gpu_mhz"] = int(m.group(2))
    if m := _EMC.search(line):
        out["emc_load_pct"] = int(m.group(1))
        if m.group(2):
            out["emc_mhz"] = int(m.group(2))
    return out


def sysfs_clocks() -> dict[str, Any]:
    clocks: dict[str, Any] = {}
    cpu = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    if cpu.is_file():
        clocks["cpu0_mhz"] = int(cpu.read_text().strip()) // 1000
    for g in Path("/sys/class/devfreq").glob("*"):
        cur = g / "cur_freq"
        if cur.is_file() and ("gpu" in g.name or "gv11b" in g.name or "ga10b" in g.name):
            clocks["gpu_mhz"] = int(cur.read_text().strip()) // 1_000_000
    return clocks


class TegraStats:
    """Context manager sampling tegrastats while a benchmark runs (no-op off a Jetson)."""

    def __init__(self, interval_ms: int = 200) -> None:
        self.interval_ms = interval_ms
        self.lines: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self.thread: threading.Thread | None = None

    def __enter__(self) -> TegraStats:
        exe = shutil.which("tegrastats")
        if exe:
            self.proc = subprocess.Popen([exe, "--interval", str(self.interval_ms)],
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                         text=True)
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def summary(self) -> dict[str, Any] | None:
        if not self.lines:
            return None
        first, last = parse_tegrastats(self.lines[0]), parse_tegrastats(self.lines[-1])
        peak: dict[str, float] = {}
        for line in self.lines:
            for k, v in parse_tegrastats(line)["temps_c"].items():
                peak[k] = max(peak.get(k, v), v)
        return {"samples": len(self.lines), "first": first, "last": last,
                "peak_temps_c": peak, "clocks": sysfs_clocks()}
