from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import (
    TrustCheckpoint,
    backend_list,
    backends_help,
    err_console,
    handle_errors,
    write_reports,
)


@handle_errors
def eval_cmd(
    bundle: Annotated[Path, typer.Argument(help="A bundle directory.")],
    data: Annotated[Path, typer.Option(help="An Ultralytics dataset YAML (data.yaml).")],
    split: Annotated[str, typer.Option(help="The split to score (a key of data.yaml).")] = "val",
    backend: Annotated[str | None, typer.Option(help=backends_help("default: the bundle's"))] = None,
    max_images: Annotated[int | None, typer.Option(min=1, help="Score only the first N images "
                                                   "of the split.")] = None,
    max_drop: Annotated[float | None, typer.Option(min=0.0, help="Gate: exit 1 when a backend's "
                                                   "mAP50-95 is more than this many points "
                                                   "below the PyTorch reference.")] = None,
    reference: Annotated[str, typer.Option(help="auto (PyTorch when installed, else the mAP "
                                           "recorded in the bundle), torch, recorded, or "
                                           "none.")] = "auto",
    threads: Annotated[int | None, typer.Option(min=1, help="Runtime threads.")] = None,
    json_out: Annotated[str | None, typer.Option("--json", help="Write JSON ('-' = stdout, "
                                                 "data only).")] = None,
    junit: Annotated[str | None, typer.Option(help="Write a JUnit XML report.")] = None,
    trust_checkpoint: TrustCheckpoint = False,
) -> None:
    """mAP50-95 and mAP50 of a bundle on a labelled dataset, per backend and per class,
    through the deployment path (edgekit's preprocessing, the runtime, edgekit's decoding),
    against the PyTorch reference."""
    from .. import api
    from ..errors import GateFailed

    backends = backend_list(backend, check=False)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ..eval.report import markdown, write_junit
    from .render.eval import render_eval

    console = err_console()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        tasks: dict[str, Any] = {}

        def progress(label: str, i: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=i)

        report = api.eval(bundle, data, backends=backends, split=split, max_images=max_images,
                          max_drop=max_drop, reference=reference, threads=threads,
                          trust_checkpoint=trust_checkpoint, progress=progress).document
    render_eval(report, console)
    write_reports(report, json_out, markdown=markdown, files=(("--junit", junit, write_junit),))
    if not report["passed"]:
        bad = [f"{n} {r['drop_map50_95']:.2f}" for n, r in report["backends"].items()
               if not r["passed"]]
        raise GateFailed(f"accuracy gate failed: mAP50-95 dropped more than {max_drop:g} "
                         f"points against the reference ({', '.join(bad)})")
