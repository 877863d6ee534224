from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ._common import echo_data, handle_errors, out_console


@handle_errors
def inspect(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the sites as JSON on stdout.")] = False,
) -> None:
    from ..export.bundle import load_bundle
    from .render.table import WIDE, new_table, wrap_dotted

    b = load_bundle(bundle)
    m = b.manifest
    if as_json:
        echo_data(json.dumps(m["taps"], indent=2))
        return
    c = out_console()
    src = m["source"]
    c.print(f"[bold]{b.path}[/]  {src['spec']} ({src['family']}"
            f"{', random weights seed ' + str(src['seed']) if src.get('random_weights') else ''}), "
            f"{m['input']['imgsz']}px, opset {m['opset']}, profile {m['profile']['name']}")
    c.print(f"artifacts: {', '.join(f'{k}={v}' for k, v in m['artifacts'].items())}")
    c.print(f"output: {m['output']['name']} {m['output']['shape']} — {m['output']['decoding']}")
    compact = c.width < WIDE + 50  # the wide layout needs about 160 columns
    if compact:  # module over its graph tensor, kind over class: four columns
        t = new_table("attention sites (graph order)", ("#", "module / graph tensor",
                                                         "kind / class", "shape", "ops"),
                      left=("module / graph tensor", "kind / class", "shape"), tight=True)
    else:
        t = new_table("attention sites (graph order)",
                      ("#", "module", "kind", "class", "graph tensor", "shape", "region ops"),
                      left=("module", "kind", "class", "graph tensor", "shape"))
    w = max(16, c.width - 50)  # what the other columns leave
    for i, tap in enumerate(m["taps"]):
        name = tap["name"] + (" (input)" if tap.get("port") == "in" else "")
        shape, ops = "x".join(map(str, tap["shape"])), str(tap.get("region_nodes", "-"))
        if compact:
            t.add_row(str(i), f"{wrap_dotted(name, w)}\n[dim]{wrap_dotted(tap['tensor'], w)}[/]",
                      f"{tap['kind']}\n[dim]{tap['cls']}[/]", shape, ops)
        else:
            t.add_row(str(i), name, tap["kind"], tap["cls"], tap["tensor"], shape, ops)
    c.print(t)
