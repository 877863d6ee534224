from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import handle_errors, log


@handle_errors
def report(
    bundle: Annotated[Path, typer.Argument(help="A bundle directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path(
        "report.html"),
    bench: Annotated[list[Path] | None, typer.Option(
        "--bench", help="An `edgekit bench --json` report (repeat for more).")] = None,
    eval_json: Annotated[Path | None, typer.Option(
        "--eval", help="An `edgekit eval --json` report.")] = None,
    tune: Annotated[Path | None, typer.Option(
        help="A tune report (`edgekit tune --json`, or tune.json in a tuned bundle).")] = None,
    parity: Annotated[Path | None, typer.Option(
        help="An `edgekit parity --json` report (default: the bundle's parity.json, else "
             "parity is run).")] = None,
    fleet: Annotated[Path | None, typer.Option(
        help="A fleet results folder (its fleet.json is drawn as a matrix).")] = None,
    backend: Annotated[str | None, typer.Option(
        help="Runtimes whose detections are drawn (default: the bundle's).")] = None,
    images: Annotated[int, typer.Option(min=1, help="Reference images drawn.")] = 3,
) -> None:
    """One self-contained HTML page (no network, nothing to install to view it): the
    bundle, parity along the network, the detections of PyTorch and each runtime side by
    side, latency, mAP, tune's search and a fleet's matrix."""
    from .._paths import check_writable_file
    from ..report import build, check_inputs, open_bundle, write_html
    from ._common import backend_list

    check_writable_file(out, "-o")
    inputs = check_inputs(parity=parity, bench=list(bench or []), eval=eval_json, tune=tune,
                          fleet=fleet)
    b = open_bundle(bundle)  # not a bundle: exit 2; a file whose hash differs: exit 4
    data = build(b, inputs, backends=backend_list(backend, deployable=True), images=images)
    size = write_html(data, out)
    log(f"[green]report written:[/] {out} ({size / 1024:.0f} KiB)")
