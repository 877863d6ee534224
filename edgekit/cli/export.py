from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import check_imgsz, handle_errors, log


@handle_errors
def export(
    model: Annotated[str, typer.Argument(help="A .pt checkpoint, an Ultralytics YAML name "
                                         "(yolo26n.yaml, rtdetr-l.yaml), a YAML path, or a "
                                         "bundle directory (build a TensorRT engine on the device).")],
    profile: Annotated[str, typer.Option("--profile", "-p", help="Profile name or YAML path.")] = "intel-cpu-fp32",
    imgsz: Annotated[int | None, typer.Option(help="Image size: a positive multiple of 32, at "
                                              "most 4096 (default: the profile's).")] = None,
    out: Annotated[Path, typer.Option(help="Parent directory of the bundle.")] = Path("bundles"),
    batch: Annotated[int | None, typer.Option(help="Static batch size.")] = None,
    opset: Annotated[int | None, typer.Option(help="ONNX opset (default per family).")] = None,
    threads: Annotated[int | None, typer.Option(help="Runtime threads recorded in the profile.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for YAML-built (random) weights.")] = 0,
    end2end: Annotated[bool, typer.Option("--end2end/--no-end2end",
                                          help="YOLO26: NMS-free (N, 300, 6) output, or the "
                                          "one-to-many output that needs NMS.")] = True,
    parity: Annotated[bool, typer.Option("--parity/--no-parity",
                                         help="Check outputs and attention parity after export.")] = True,
    images: Annotated[str | None, typer.Option(help="Images for reference/calibration "
                                               "(default: ultralytics' sample images).")] = None,
    simplify: Annotated[bool | None, typer.Option("--simplify/--no-simplify")] = None,
) -> None:
    from ..errors import GateFailed
    from ..export.pipeline import export as run_export
    from ..profiles import load_profile

    check_imgsz(imgsz)
    prof = load_profile(profile, {"imgsz": imgsz, "batch.size": batch, "opset": opset,
                                  "runtime.threads": threads, "simplify": simplify})
    if not parity:
        log("[yellow]warning:[/] --no-parity: the ONNX output check and attention parity are skipped")
    res = run_export(model, prof, out, seed=seed, end2end=end2end, parity=parity, images=images,
                     log=log)
    log(f"[green]bundle written:[/] {res.bundle}")
    if res.parity is not None and not res.parity["passed"]:
        raise GateFailed("attention parity failed (the bundle is kept; see parity.json in it)")
