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
    from rich.table import Table

    from ..export.bundle import load_bundle

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
    t = Table(title="attention sites (graph order)", title_justify="left")
    for col in ("#", "module", "kind", "class", "graph tensor", "shape", "region ops"):
        t.add_column(col)
    for i, tap in enumerate(m["taps"]):
        t.add_row(str(i), tap["name"] + (" (input)" if tap.get("port") == "in" else ""),
                  tap["kind"], tap["cls"], tap["tensor"], "x".join(map(str, tap["shape"])),
                  str(tap.get("region_nodes", "-")))
    c.print(t)
