from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import (
    AllowKnownIssue,
    MaxAgreementDrop,
    MaxMedianStreamRel,
    MaxRelL2,
    MinCosine,
    MinMedianSqnr,
    TrustCheckpoint,
    Verdict,
    backend_list,
    backends_help,
    err_console,
    handle_errors,
    log,
    write_reports,
)


@handle_errors
def parity(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory written by `edgekit export`.")],
    backend: Annotated[str | None, typer.Option(help=backends_help(
        "default: the profile's runtimes", deployable=True))] = None,
    profile: Annotated[str | None, typer.Option(help="Profile for tolerances (default: the "
                                                "bundle's own).")] = None,
    reference: Annotated[str | None, typer.Option(help="Recompute the reference with torch from "
                                                  "this model (e.g. a fine-tuned checkpoint).")] = None,
    json_out: Annotated[str | None, typer.Option("--json", help="Write the JSON report here "
                                                 "('-' for stdout).")] = None,
    junit: Annotated[str | None, typer.Option(help="Write a JUnit XML report here.")] = None,
    min_cosine: MinCosine = None,
    max_rel_l2: MaxRelL2 = None,
    atol: Annotated[float | None, typer.Option(help="Override atol.")] = None,
    rtol: Annotated[float | None, typer.Option(help="Override rtol.")] = None,
    max_violation_frac: Annotated[float | None, typer.Option(help="Override the share of "
                                                             "elements allowed beyond tolerance.")] = None,
    verdict: Verdict = None,
    min_median_sqnr_db: MinMedianSqnr = None,
    max_median_stream_rel: MaxMedianStreamRel = None,
    max_agreement_drop: MaxAgreementDrop = None,
    trust_checkpoint: TrustCheckpoint = False,
    allow_known_issue: AllowKnownIssue = None,
) -> None:

    from .. import api
    from .._paths import check_writable_file
    from ..errors import GateFailed
    from ..parity.report import markdown, write_junit
    from .render.parity import render_parity

    check_writable_file(json_out, "--json")
    check_writable_file(junit, "--junit")
    # named backends are checked before the bundle's files are hashed; the profile's after
    backends = backend_list(backend, deployable=True)
    result = api.parity(bundle, backends=backends, profile=profile, reference=reference,
                        trust_checkpoint=trust_checkpoint, min_cosine=min_cosine,
                        max_rel_l2=max_rel_l2, atol=atol, rtol=rtol,
                        max_violation_frac=max_violation_frac, verdict=verdict,
                        min_median_sqnr_db=min_median_sqnr_db,
                        max_median_stream_rel=max_median_stream_rel,
                        max_agreement_drop=max_agreement_drop,
                        allow_known_issues=tuple(allow_known_issue or ()))
    render_parity(result.document, err_console())
    write_reports(result.document, json_out, markdown=markdown,
                  files=(("--junit", junit, write_junit),))
    if not result.passed:
        raise GateFailed("parity failed: " + result.summary)
    log("[green]parity passed[/]")
