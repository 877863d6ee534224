from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import AllowKnownIssue, TrustCheckpoint, check_imgsz, err_console, handle_errors, log


@handle_errors
def export(
    model: Annotated[str, typer.Argument(help="A .pt checkpoint, an Ultralytics YAML name "
                                         "(yolo26n.yaml, rtdetr-l.yaml), a YAML path, or a "
                                         "bundle directory (build a TensorRT engine on the device).")],
    profile: Annotated[str, typer.Option("--profile", "-p",
                                         help="Profile name or YAML path.")] = "intel-cpu-fp32",
    imgsz: Annotated[int | None, typer.Option(help="Image size: a positive multiple of 32, at "
                                              "most 4096 (default: the profile's).")] = None,
    out: Annotated[Path, typer.Option(help="Parent directory of the bundle.")] = Path("bundles"),
    batch: Annotated[int | None, typer.Option(help="Batch size: the static batch, or with "
                                              "--dynamic the batch traced and optimised for.")] = None,
    dynamic: Annotated[bool, typer.Option("--dynamic", help="Dynamic batch: the profile's "
                                          "range, else 1..8.")] = False,
    batch_range: Annotated[str | None, typer.Option(help="Dynamic batch range MIN:MAX "
                                                    "(implies --dynamic).")] = None,
    opset: Annotated[int | None, typer.Option(help="ONNX opset (default per family).")] = None,
    threads: Annotated[int | None, typer.Option(help="Runtime threads recorded in the profile.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for YAML-built (random) weights.")] = 0,
    end2end: Annotated[bool | None, typer.Option(
        "--end2end/--no-end2end", help="YOLO26: the one-to-one head, NMS-free (N, 300, 6), or "
        "the one-to-many head that needs NMS. Default: the checkpoint's own mode, as "
        "Ultralytics' val and export use it (one-to-one for a YAML).")] = None,
    parity: Annotated[bool, typer.Option("--parity/--no-parity",
                                         help="Check outputs and attention parity after export.")] = True,
    images: Annotated[str | None, typer.Option(help="Images for reference/calibration "
                                               "(default: ultralytics' sample images).")] = None,
    simplify: Annotated[bool | None, typer.Option("--simplify/--no-simplify")] = None,
    trust_checkpoint: TrustCheckpoint = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing bundle of the same "
                                        "name (refused otherwise).")] = False,
    data: Annotated[str | None, typer.Option(help="An Ultralytics data.yaml: INT8 calibrates "
                                             "on its train split (as Ultralytics' data=), and "
                                             "the PyTorch reference mAP on its val split is "
                                             "recorded for `edgekit eval`.")] = None,
    fraction: Annotated[float | None, typer.Option(help="With --data: calibrate on this share "
                                                   "of the train split (default: the "
                                                   "profile's calibration count).")] = None,
    exporter: Annotated[str | None, typer.Option(
        help="torch-to-ONNX exporter: torchscript (torch.jit.trace) or dynamo (torch.export, "
        "opset >= 18). Default: torchscript, see the README's 'Exporters'.")] = None,
    allow_known_issue: AllowKnownIssue = None,
) -> None:
    from .. import api
    from ..errors import GateFailed

    check_imgsz(imgsz)
    if not parity:
        log("[yellow]warning:[/] --no-parity: the ONNX output check and attention parity are skipped")
    res = api.export(model, profile, imgsz=imgsz, out=out, batch=batch, dynamic=dynamic,
                     batch_range=batch_range, opset=opset, threads=threads, simplify=simplify,
                     seed=seed, end2end=end2end, parity=parity, images=images, force=force,
                     trust_checkpoint=trust_checkpoint, data=data, fraction=fraction,
                     exporter=exporter, allow_known_issues=tuple(allow_known_issue or ()))
    if res.parity is not None:
        from .render.parity import render_parity

        render_parity(res.parity.document, err_console())
    log(f"[green]bundle written:[/] {res.bundle}")
    if not res.passed and res.parity is not None:
        from ..export.images import advice

        fix = advice(res.parity.document)
        raise GateFailed(f"parity failed: {res.parity.summary}; "
                         + (f"{fix} " if fix else "")
                         + "(the bundle is kept; see parity.json in it)")
