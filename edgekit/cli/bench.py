from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import (
    TrustCheckpoint,
    backend_list,
    backends_help,
    check_imgsz,
    err_console,
    handle_errors,
    write_reports,
)


@handle_errors
def bench(
    targets: Annotated[list[str], typer.Argument(help="A bundle directory or a bare model file "
                                                 "(.onnx, OpenVINO .xml, TensorRT .engine); or "
                                                 "`compare A.json B.json ...`.")],
    backend: Annotated[str | None, typer.Option(help=backends_help("default: the target's"))] = None,
    warmup: Annotated[int, typer.Option(min=0, help="Warm-up iterations (more until settled).")] = 10,
    iters: Annotated[int | None, typer.Option(min=1, help="Timed iterations.")] = None,
    duration: Annotated[float | None, typer.Option(min=0.1, help="Time for this many seconds "
                                                   "instead of --iters.")] = None,
    batch: Annotated[int, typer.Option(min=1)] = 1,
    threads: Annotated[int | None, typer.Option(min=1, help="Runtime threads.")] = None,
    hint: Annotated[str | None, typer.Option(help="latency (single stream) or throughput "
                                             "(OpenVINO async requests with streams); "
                                             "default: the bundle profile's openvino_hint, "
                                             "else latency.")] = None,
    imgsz: Annotated[int | None, typer.Option(help="Input size for a bare model file whose "
                                              "input has dynamic sizes.")] = None,
    budget_ms: Annotated[float | None, typer.Option(help="Latency budget in ms.")] = None,
    fps: Annotated[float | None, typer.Option(help="Budget as a frame rate.")] = None,
    percentile: Annotated[float, typer.Option(help="Percentile gated against the budget.")] = 99.0,
    model_only: Annotated[bool, typer.Option("--model-only", help="Skip end-to-end timing.")] = False,
    json_out: Annotated[str | None, typer.Option("--json", help="Write JSON ('-' = stdout, "
                                                 "data only).")] = None,
    baseline: Annotated[Path | None, typer.Option(help="A previous --json report.")] = None,
    max_regression: Annotated[float, typer.Option(help="Allowed p50 slowdown over the baseline, "
                                                  "in percent.")] = 10.0,
    plot: Annotated[str | None, typer.Option(help="Write a latency CDF + histogram PNG.")] = None,
    trust_checkpoint: TrustCheckpoint = False,
) -> None:
    """Measure latency on the target: percentiles, jitter, model-only and end to end."""

    from ..errors import GateFailed, UsageError

    console = err_console()
    if targets and targets[0] == "compare":
        from ..bench.report import load_report
        from .render.bench import render_comparison

        files = targets[1:]
        if len(files) < 1:
            raise UsageError("bench compare needs one or more JSON reports")
        render_comparison([(Path(f).stem, load_report(f)) for f in files], console)
        return
    if len(targets) != 1:
        raise UsageError("bench takes one target (a bundle or a model file)")
    if hint not in (None, "latency", "throughput"):
        raise UsageError(f"--hint {hint}: choose latency or throughput")
    if budget_ms is not None and fps is not None:
        raise UsageError("give --budget-ms or --fps, not both")
    if fps is not None:
        budget_ms = 1000.0 / fps
    from .._paths import check_writable_file

    check_imgsz(imgsz)
    check_writable_file(json_out, "--json")
    check_writable_file(plot, "--plot")
    from .. import api
    from ..bench.report import baseline_results
    from .render.bench import render_bench

    backends = backend_list(backend)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True, disable=not console.is_terminal,
                  redirect_stdout=False, redirect_stderr=False) as bar:
        tasks: dict[str, Any] = {}
        total = None if duration else (iters or 100)

        def progress(backend_name: str, mode: str, i: int) -> None:
            key = f"{backend_name} {mode}"
            if key not in tasks:
                tasks[key] = bar.add_task(key, total=total)
            bar.update(tasks[key], completed=i)

        result = api.bench(targets[0], backends=backends, baseline=baseline,
                           max_regression=max_regression, progress=progress, warmup=warmup,
                           iters=total, duration_s=duration, batch=batch, threads=threads,
                           hint=hint, budget_ms=budget_ms, percentile=percentile,
                           e2e=not model_only, trust_checkpoint=trust_checkpoint, imgsz=imgsz)
    report = result.document
    render_bench(report, console)
    from ..bench.report import markdown

    def draw(rep: dict, path: str) -> None:
        from ..bench.report import plot

        plot(rep, path)

    write_reports(report, json_out, markdown=markdown, files=(("--plot", plot, draw),))
    reg = report.get("regression")
    if reg is not None and not reg["rows"] and baseline is not None:
        from ..bench.report import load_report

        base = load_report(baseline, "--baseline")
        raise UsageError(f"--baseline {baseline}: nothing to compare: it has no result for "
                         f"{', '.join(reg['not_compared'])} (it has "
                         f"{baseline_results(base)})")
    failed = []
    if not report["verdict"]["passed"]:
        failed.append(f"p{percentile:g} over the {report['verdict']['budget_ms']:.2f} ms budget")
    if report.get("regression") and not report["regression"]["passed"]:
        failed.append(f"p50 regressed more than {max_regression:g}% against the baseline")
    if failed:
        raise GateFailed("latency gate failed: " + "; ".join(failed))
