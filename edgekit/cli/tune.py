from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import (
    MaxAgreementDrop,
    MaxMedianStreamRel,
    MaxRelL2,
    MinCosine,
    MinMedianSqnr,
    TrustCheckpoint,
    Verdict,
    check_imgsz,
    err_console,
    handle_errors,
    write_json_report,
)


@handle_errors
def tune(
    target: Annotated[str, typer.Argument(help="A bundle, or a model (exported first with "
                                          "intel-cpu-fp32 at the profile's size).")],
    profile: Annotated[str, typer.Option(
        "--profile", "-p", help="An INT8 profile: intel-cpu-int8 (OpenVINO) or onnx-int8 "
                                "(ONNX Runtime).")] = "intel-cpu-int8",
    imgsz: Annotated[int | None, typer.Option(help="Image size when TARGET is a model: a "
                                              "positive multiple of 32, at most 4096.")] = None,
    out: Annotated[Path, typer.Option(help="Where the tuned profile and bundle go.")] = Path("bundles"),
    time_limit: Annotated[float, typer.Option(help="Search budget in seconds.")] = 1800,
    iters: Annotated[int, typer.Option(min=5, help="Timed iterations per candidate.")] = 50,
    threads: Annotated[int | None, typer.Option(min=1)] = None,
    seed: Annotated[int, typer.Option(help="Seed for YAML-built models.")] = 0,
    min_cosine: MinCosine = None,
    max_rel_l2: MaxRelL2 = None,
    verdict: Verdict = None,
    min_median_sqnr_db: MinMedianSqnr = None,
    max_median_stream_rel: MaxMedianStreamRel = None,
    max_agreement_drop: MaxAgreementDrop = None,
    json_out: Annotated[str | None, typer.Option("--json", help="Write the JSON report here "
                                                 "('-' for stdout).")] = None,
    data: Annotated[str | None, typer.Option(help="An Ultralytics data.yaml: keep a scope by "
                                             "its mAP50-95 drop on the split below (against "
                                             "the float build), not only by the site "
                                             "verdict.")] = None,
    split: Annotated[str, typer.Option(help="With --data: the split to score.")] = "val",
    max_images: Annotated[int | None, typer.Option(min=1, help="With --data: score the first "
                                                   "N images of the split.")] = None,
    max_drop: Annotated[float | None, typer.Option(min=0.0, help="With --data: the largest "
                                                   "mAP50-95 drop kept, in points "
                                                   "(default 1.0).")] = None,
    trust_checkpoint: TrustCheckpoint = False,
    force: Annotated[bool, typer.Option("--force", help="Replace existing bundles (the one "
                                        "exported from a model, and the tuned one).")] = False,
) -> None:
    """Find what must stay float for INT8 to keep attention parity (per site, or whole blocks
    upstream of a site whose error is inherited); time the candidates; write a profile."""
    from .. import api
    from .._paths import check_writable_file
    from ..errors import GateFailed
    from .render.parity import render_parity
    from .render.tune import render_tune

    check_imgsz(imgsz)
    check_writable_file(json_out, "--json")
    res = api.tune(target, profile, imgsz=imgsz, out=out, time_limit=time_limit, iters=iters,
                   threads=threads, seed=seed, min_cosine=min_cosine, max_rel_l2=max_rel_l2,
                   data=data, split=split, max_images=max_images, max_drop=max_drop,
                   trust_checkpoint=trust_checkpoint, force=force, verdict=verdict,
                   min_median_sqnr_db=min_median_sqnr_db,
                   max_median_stream_rel=max_median_stream_rel,
                   max_agreement_drop=max_agreement_drop)
    if res.export is not None and res.export.parity is not None:
        render_parity(res.export.parity.document, err_console())
    rep = res.document
    render_tune(rep, err_console())
    if json_out:
        write_json_report(rep, json_out)
    if not res.passed:
        raise GateFailed(f"no configuration was kept ({rep['why']}; closest: {rep['chosen']}; "
                         "see tune.json in the bundle)")
