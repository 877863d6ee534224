"""What machine this is: CPU model and flags, GPUs, Jetson, runtimes. Stdlib only."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ._lazy import available, version_of

CPU_FLAGS = {"avx2": "avx2", "avx512f": "avx512", "avx512_vnni": "avx512_vnni",
             "avx_vnni": "avx_vnni", "amx_tile": "amx", "amx_bf16": "amx_bf16",
             "avx512_bf16": "avx512_bf16", "fma": "fma", "f16c": "f16c"}


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity mask (``taskset``, cgroup cpusets),
    not every CPU of the machine."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def usable_cores() -> int:
    """Physical cores among the CPUs of the affinity mask (hyper-threads of one core count
    once, as ONNX Runtime's own default counts them); the CPU count where the topology is
    not readable."""
    try:
        cpus = os.sched_getaffinity(0)
    except AttributeError:
        return usable_cpus()
    cores = set()
    for cpu in cpus:
        topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topo / "physical_package_id").read_text().strip(),
                       (topo / "core_id").read_text().strip()))
        except OSError:
            return len(cpus)
    return max(1, len(cores))


def cpu_info() -> dict[str, Any]:
    info: dict[str, Any] = {"arch": platform.machine(), "logical_cores": os.cpu_count()}
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("model name") and "model" not in info:
            info["model"] = line.split(":", 1)[1].strip()
        elif line.startswith(("flags", "Features")) and not flags:
            flags = set(line.split(":", 1)[1].split())
    info.setdefault("model", platform.processor() or platform.machine())
    info["flags"] = {name: (flag in flags) for flag, name in CPU_FLAGS.items()}
    info["affinity_cores"] = usable_cpus()
    info["affinity_physical_cores"] = usable_cores()
    gov = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    info["governor"] = gov.read_text().strip() if gov.is_file() else None
    return info


def gpu_list() -> list[dict[str, Any]]:
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,compute_cap,driver_version,memory.total",
             "--format=csv,noheader"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 4:
            gpus.append({"name": parts[0], "compute_capability": parts[1],
                         "driver": parts[2], "memory": parts[3]})
    return gpus


def jetson_info() -> dict[str, Any] | None:
    rel = Path("/etc/nv_tegra_release")
    model = Path("/proc/device-tree/model")
    if not rel.is_file():
        return None
    info: dict[str, Any] = {"l4t": rel.read_text(errors="replace").splitlines()[0].strip("# ")}
    if model.is_file():
        info["model"] = model.read_text(errors="replace").strip("\x00\n ")
    try:
        jp = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "nvidia-jetpack"],
                            capture_output=True, text=True, timeout=5).stdout.strip()
        info["jetpack"] = jp or None
    except (OSError, subprocess.SubprocessError):
        info["jetpack"] = None
    if shutil.which("nvpmodel"):
        try:
            info["power_mode"] = subprocess.run(["nvpmodel", "-q"], capture_output=True,
                                                text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return info


#: the export toolchain beside the runtimes (each runtime plug-in reports its own packages)
TOOLCHAIN = ("onnx", "onnxslim")


def toolchain() -> dict[str, str | None]:
    """Versions of the export toolchain's packages (None: not installed)."""
    return {m: version_of(m) if available(m) else None for m in TOOLCHAIN}
