"""Where a cell runs: a device's labels (from what `doctor` sees), its fingerprint, and the
`ray start` line that joins it to a fleet. Stdlib only: no Ray import."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from typing import Any

from ..errors import UsageError
from .cell import DEVICE_RESOURCE
from .matrix import label_error

#: each CPU feature a label names -> the `hostinfo` flags that provide it
CPU_FEATURES = {"avx512_bf16": ("avx512_bf16",), "amx": ("amx", "amx_bf16"),
                "vnni": ("avx512_vnni", "avx_vnni"), "avx512": ("avx512",)}


def label_value(text: Any) -> str:
    """Any text as a label value: letters, digits, '-', '_', '.'; at most 63 characters."""
    v = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-_.")
    return v[:63].rstrip("-_.")


def jetson_model(model: str) -> str:
    """``NVIDIA Jetson AGX Orin Developer Kit`` -> ``agx-orin``; ``... Orin NX ...`` -> ``orin-nx``."""
    v = label_value(model).lower()
    for noise in ("nvidia-", "jetson-", "-developer-kit", "-engineering-reference", "-dev-kit"):
        v = v.replace(noise, "")
    return v.strip("-") or "jetson"


def host_labels(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This device's labels: class, CPU model and features, GPU, Jetson model, JetPack and
    power mode, runtimes and their versions, edgekit's version, whether it can export.
    ``extra`` (``--label k=v``) wins over what was found."""
    from .. import __version__
    from .._lazy import available
    from ..hostinfo import cpu_info, gpu_list, jetson_info
    from ..runtimes import installed_versions

    cpu, gpus, jet = cpu_info(), gpu_list(), jetson_info()
    labels = {"device-class": "jetson" if jet else "gpu" if gpus else "cpu",
              "cpu.model": label_value(cpu.get("model", "")), "cpu.arch": label_value(cpu["arch"])}
    for name, provided_by in CPU_FEATURES.items():
        labels[f"cpu.{name}"] = str(any(cpu["flags"].get(f) for f in provided_by)).lower()
    if gpus:
        labels["gpu.name"] = label_value(gpus[0]["name"])
        labels["gpu.cc"] = label_value(gpus[0]["compute_capability"])
    if jet:
        labels["jetson.model"] = jetson_model(jet.get("model", ""))
        if jet.get("jetpack"):
            labels["jetson.jetpack"] = label_value(jet["jetpack"])
        mode = (jet.get("power_mode") or "").splitlines()
        if mode:
            labels["jetson.power-mode"] = label_value(mode[0].split(":")[-1])
    for pkg, version in installed_versions().items():
        if version:
            labels[f"rt.{label_value(pkg)}"] = label_value(version)
    labels["edgekit.version"] = label_value(__version__)
    labels["can-export"] = str(available("torch") and available("ultralytics")).lower()
    labels = {k: v for k, v in labels.items() if v}
    for k, v in (extra or {}).items():
        if why := label_error(k, v):
            raise UsageError(f"--label {k}={v}: {why}")
        labels[k] = v
    return labels


def parse_labels(items: list[str]) -> dict[str, str]:
    """``--label k=v`` options as a mapping (one line per malformed item)."""
    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k.strip():
            raise UsageError(f"--label {item}: expected key=value")
        out[k.strip()] = v.strip()
    return out


def ray_start_command(address: str | None, labels: dict[str, str], *,
                      object_store_memory: int | None = None, block: bool = False) -> list[str]:
    """The `ray start` that joins this device to the fleet at ``address`` (a head when None):
    its labels and one ``edgekit-device`` resource (one edgekit job at a time here)."""
    cmd = ["ray", "start", f"--address={address}" if address else "--head",
           "--labels=" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
           "--resources=" + json.dumps({DEVICE_RESOURCE: 1}, separators=(",", ":"))]
    if object_store_memory:
        cmd.append(f"--object-store-memory={object_store_memory}")
    if block:
        cmd.append("--block")
    return cmd


def shell_line(cmd: list[str]) -> str:
    return " ".join(shlex.quote(c) for c in cmd)


def fingerprint() -> dict[str, Any]:
    """What this device is, as a bench report's conditions record it, with a short hash
    that changes when any of it changes (as MLPerf's system description)."""
    from .. import __version__
    from ..hostinfo import cpu_info, gpu_list, jetson_info
    from ..runtimes import installed_versions

    cpu = cpu_info()
    desc = {"cpu": {k: cpu.get(k) for k in ("model", "arch", "logical_cores", "flags")},
            "gpus": gpu_list(), "jetson": jetson_info(), "runtimes": installed_versions(),
            "edgekit": __version__}
    desc["hash"] = hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:12]
    return desc
