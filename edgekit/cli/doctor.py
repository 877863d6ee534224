from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from ._common import echo_data, handle_errors, log, out_console


def profile_runs_here(profile, host) -> tuple[bool, str]:
    """Whether every runtime of ``profile`` runs on ``host`` (a ``runtimes.Host``), and why
    not (the first runtime's reason)."""
    from ..runtimes import get_runtime

    for rt in profile.runtimes:
        ok, why = get_runtime(rt).runs_here(profile, host)
        if not ok:
            return False, why
    return True, "ok"


def profile_pays_here(profile, support: dict) -> tuple[bool | None, str]:
    """Whether a profile's reduced precision is faster than f32 on this host (from the CPU's
    flags: ``edgekit.precision.cpu_support``); None where the host is not the question (fp32
    profiles, GPU profiles). Each runtime plug-in answers for itself; the first answer wins."""
    from ..runtimes import get_runtime

    answers = [get_runtime(rt).pays_here(profile, support) for rt in profile.runtimes]
    decided = [a for a in answers if a[0] is not None]
    return decided[0] if decided else (answers[0] if answers else (None, "-"))


@handle_errors
def doctor(as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
           known_issues: Annotated[bool, typer.Option(
               "--known-issues", help="List the whole known-bad environment table.")] = False,
           ) -> None:
    from rich.markup import escape

    from ..known_issues import TABLE, Target, matching

    if known_issues:
        render_known_issues(list(TABLE), as_json, "known-bad environments")
        return
    here = [m.issue for m in matching(Target())]

    from ..precision import cpu_support
    from ..profiles import list_profiles, load_profile
    from ..runtimes import LOAD_ERRORS, Host, installed_versions
    from .render.table import new_table

    host = Host.here()
    cpu, gpus, jet, rts = host.cpu, host.gpus, host.jetson, installed_versions()
    support = cpu_support(cpu["flags"])
    prof: dict[str, dict[str, Any]] = {}
    for name, path in list_profiles().items():
        p = load_profile(path)
        ok, why = profile_runs_here(p, host)
        pays, pays_why = profile_pays_here(p, support)
        prof[name] = {"runs_here": ok, "why": why, "pays_here": pays, "pays_why": pays_why}
    for e in LOAD_ERRORS:
        log(f"[yellow]warning:[/] {escape(e)}")
    if as_json:
        echo_data(json.dumps({"cpu": {**cpu, "reduced_precision": support}, "gpus": gpus,
                              "jetson": jet, "runtimes": rts, "profiles": prof,
                              "plugin_errors": LOAD_ERRORS,
                              "known_issues": [i.id for i in here]}, indent=2))
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
    for pkg, version in rts.items():
        t.add_row(pkg, version or "[dim]not installed[/]")
    c.print(t)
    t = new_table("profiles", ("profile", "runs here", "why", "pays here"),
                  left=("profile", "runs here", "why", "pays here"))
    for k, v in prof.items():
        cell = ("[dim]-[/]" if v["pays_here"] is None else
                f"[green]yes[/] ({v['pays_why']})" if v["pays_here"] else f"[red]no[/] ({v['pays_why']})")
        t.add_row(k, "[green]yes[/]" if v["runs_here"] else "[red]no[/]", v["why"], cell)
    c.print(t)
    render_known_issues(here, False, "known issues matching this host's versions "
                        "(doctor --known-issues: all)")


def render_known_issues(issues: list, as_json: bool, title: str) -> None:
    """The entries as JSON on stdout, or one block each: the id, action and where it bites,
    the symptom, the source."""
    from dataclasses import asdict


    if as_json:
        echo_data(json.dumps([{**asdict(i), "platform": i.platform} for i in issues], indent=2))
        return
    import textwrap

    c = out_console()
    c.print(f"[bold]{title}[/]: {len(issues) or 'none'}")
    width = max(40, c.width)

    def block(text: str, indent: str) -> None:
        # wrapped to the terminal with its indent kept (80 columns in a pipe); a URL is
        # never broken
        c.print(textwrap.fill(text, width=width, initial_indent=indent,
                              subsequent_indent=indent + "  ", break_long_words=False,
                              break_on_hyphens=False), markup=False, highlight=False)

    for i in issues:
        scope = ", ".join(x for x in (i.family, i.op, i.precision,
                                      f"opset {i.opset}" if i.opset else None) if x)
        block(f"{i.id} ({i.action}): {i.package} {i.versions or 'any'}, {i.platform}"
              + (f", {scope}" if scope else ""), "  ")
        block(i.symptom, "    ")
        block(i.source + ("" if i.confirmed else " (not confirmed)"), "    ")
