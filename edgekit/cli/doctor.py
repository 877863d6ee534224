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


def profile_pays_here(profile, support: dict) -> tuple[bool | None, str]:
    """Whether a CPU profile's reduced precision is faster than f32 on this CPU (from its
    flags: ``edgekit.precision.cpu_support``); None for a profile where the CPU is not the
    question (fp32, GPU profiles)."""
    if "tensorrt" in [r.value for r in profile.runtimes]:
        return None, "GPU"
    if profile.precision.value == "int8":
        return ((True, "VNNI") if support["vnni"]
                else (False, "no VNNI (AVX512_VNNI, AVX_VNNI or AMX): INT8 gains little"))
    if profile.float_policy == "bf16":
        return ((True, "AMX" if support["amx"] else "AVX512_BF16") if support["bf16"]
                else (False, "no AVX512_BF16 or AMX: OpenVINO runs f32"))
    return None, "f32"


@handle_errors
def doctor(as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False) -> None:
    from ..hostinfo import cpu_info, gpu_list, jetson_info, runtimes
    from ..precision import cpu_support
    from ..profiles import list_profiles, load_profile
    from .render.table import new_table

    cpu, gpus, jet, rts = cpu_info(), gpu_list(), jetson_info(), runtimes()
    support = cpu_support(cpu["flags"])
    prof = {}
    for name, path in list_profiles().items():
        p = load_profile(path)
        ok, why = profile_runs_here(p, rts, gpus, jet)
        pays, pays_why = profile_pays_here(p, support)
        prof[name] = {"runs_here": ok, "why": why, "pays_here": pays, "pays_why": pays_why}
    if as_json:
        echo_data(json.dumps({"cpu": {**cpu, "reduced_precision": support}, "gpus": gpus,
                              "jetson": jet, "runtimes": rts, "profiles": prof}, indent=2))
        return
    c = out_console()
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in cpu["flags"].items()
                      if k in ("avx2", "avx512", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx",
                               "amx_bf16"))
    flags += ("\n  reduced precision: " + ", ".join(
        f"{k} {'yes' if v else 'no'}" for k, v in support.items()))
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
    t = new_table("profiles", ("profile", "runs here", "why", "pays here"),
                  left=("profile", "runs here", "why", "pays here"))
    for k, v in prof.items():
        pays = ("[dim]-[/]" if v["pays_here"] is None else
                f"[green]yes[/] ({v['pays_why']})" if v["pays_here"] else f"[red]no[/] ({v['pays_why']})")
        t.add_row(k, "[green]yes[/]" if v["runs_here"] else "[red]no[/]", v["why"], pays)
    c.print(t)
