from __future__ import annotations

import json
from typing import Annotated

import typer

from ._common import echo_data, handle_errors, out_console


def profile_runs_here(profile, rts: dict, gpus: list, jetson) -> tuple[bool, str]:
    missing = [r.value for r in profile.runtimes if not rts.get(r.value)]
    if profile.precision.value == "int8" and "openvino" in [r.value for r in profile.runtimes] \
            and not rts.get("nncf"):
        missing.append("nncf")
    if missing:
        return False, "missing " + ", ".join(missing)
    if "tensorrt" in [r.value for r in profile.runtimes] and not gpus and not jetson:
        return False, "no NVIDIA GPU"
    if profile.jetson and not jetson:
        return False, "not a Jetson (export the ONNX here, build the engine on the device)"
    return True, "ok"


@handle_errors
def doctor(as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False) -> None:
    from ..hostinfo import cpu_info, gpu_list, jetson_info, runtimes
    from ..profiles import list_profiles, load_profile
    from .render.table import new_table

    cpu, gpus, jet, rts = cpu_info(), gpu_list(), jetson_info(), runtimes()
    prof = {}
    for name, path in list_profiles().items():
        ok, why = profile_runs_here(load_profile(path), rts, gpus, jet)
        prof[name] = {"runs_here": ok, "why": why}
    if as_json:
        echo_data(json.dumps({"cpu": cpu, "gpus": gpus, "jetson": jet, "runtimes": rts,
                               "profiles": prof}, indent=2))
        return
    c = out_console()
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in cpu["flags"].items()
                      if k in ("avx2", "avx512", "avx512_vnni", "avx_vnni", "amx"))
    c.print(f"[bold]CPU[/]: {cpu['model']} ({cpu['arch']}, {cpu['logical_cores']} logical cores, "
            f"governor {cpu['governor'] or 'unknown'})\n  {flags}")
    c.print("[bold]GPUs[/]: " + (", ".join(f"{g['name']} (sm {g['compute_capability']})"
                                          for g in gpus) or "none"))
    c.print("[bold]Jetson[/]: " + (f"{jet.get('model')} {jet.get('l4t')} JetPack "
                                   f"{jet.get('jetpack') or '?'}" if jet else "no"))
    t = new_table("runtimes", ("package", "version"), left=("package", "version"))
    for k, v in rts.items():
        t.add_row(k, v or "[dim]not installed[/]")
    c.print(t)
    t = new_table("profiles", ("profile", "runs here", "why"),
                  left=("profile", "runs here", "why"))
    for k, v in prof.items():
        t.add_row(k, "[green]yes[/]" if v["runs_here"] else "[red]no[/]", v["why"])
    c.print(t)
