from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import (
    AllowKnownIssue,
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
    fps: Annotated[float | None, typer.Option(help="--scenario stream: the arrival rate; "
                                              "otherwise the budget as a frame rate.")] = None,
    percentile: Annotated[float, typer.Option(help="Percentile gated against the budget.")] = 99.0,
    model_only: Annotated[bool, typer.Option("--model-only", help="Skip end-to-end timing.")] = False,
    json_out: Annotated[str | None, typer.Option("--json", help="Write JSON ('-' = stdout, "
                                                 "data only).")] = None,
    baseline: Annotated[Path | None, typer.Option(help="A previous --json report.")] = None,
    max_regression: Annotated[float, typer.Option(help="Allowed p50 slowdown over the baseline, "
                                                  "in percent.")] = 10.0,
    plot: Annotated[str | None, typer.Option(help="Write a latency CDF + histogram PNG.")] = None,
    trust_checkpoint: TrustCheckpoint = False,
    scenario: Annotated[str | None, typer.Option(help="single-stream (back to back), stream "
                                                 "(--fps: a camera's clock), server (--qps: "
                                                 "Poisson) or offline; frames end to end, with "
                                                 "validity. Default: bench's model-only and "
                                                 "end-to-end timing.")] = None,
    qps: Annotated[float | None, typer.Option(help="--scenario server: mean arrivals/s.")] = None,
    queue: Annotated[int | None, typer.Option(help="Waiting frames held, oldest dropped "
                                              "(stream, server; default 1).")] = None,
    deadline_ms: Annotated[float | None, typer.Option(help="A result later than this after "
                                                      "its arrival is a miss (default: one "
                                                      "period).")] = None,
    max_drop_pct: Annotated[float, typer.Option(help="Dropped + late frames allowed, % of "
                                                "offered.")] = 0.0,
    find_max_fps: Annotated[bool, typer.Option("--find-max-fps", help="Search the highest "
                                               "stream rate that holds real-time.")] = False,
    min_duration: Annotated[float, typer.Option(help="A run shorter than this (s) is "
                                                "INVALID (MLPerf: 600).")] = 10.0,
    min_queries: Annotated[int, typer.Option(help="A run with fewer queries is INVALID.")] = 256,
    seed: Annotated[int, typer.Option(help="Seed of the server's Poisson arrivals.")] = 0,
    allow_known_issue: AllowKnownIssue = None,
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
        from ..bench.report import check_same_scenario

        reports = [(Path(f).stem, load_report(f)) for f in files]
        check_same_scenario(reports)
        render_comparison(reports, console)
        return
    if len(targets) != 1:
        raise UsageError("bench takes one target (a bundle or a model file)")
    if hint not in (None, "latency", "throughput"):
        raise UsageError(f"--hint {hint}: choose latency or throughput")
    if fps is not None and not fps > 0:
        raise UsageError(f"--fps {fps:g}: a rate must be above 0")
    if scenario is not None:
        for flag, given in (("--batch", batch != 1), ("--model-only", model_only),
                            ("--imgsz", imgsz is not None)):
            if given:
                raise UsageError(f"{flag} does not apply to --scenario: it runs frames one at "
                                 "a time, end to end, at the bundle's size")
        from .bench_scenario import scenario_bench

        return scenario_bench(
            targets[0], console, name=scenario, fps=fps, qps=qps, queue=queue,
            deadline_ms=deadline_ms, max_drop_pct=max_drop_pct, find_max_fps=find_max_fps,
            min_duration=min_duration, min_queries=min_queries, seed=seed, backend=backend,
            warmup=warmup, iters=iters, duration=duration, threads=threads, hint=hint,
            budget_ms=budget_ms, percentile=percentile, json_out=json_out, plot=plot,
            baseline=baseline, max_regression=max_regression,
            trust_checkpoint=trust_checkpoint,
            known_issues=lambda: _check_known_issues(Path(targets[0]), backend_list(backend),
                                                     allow_known_issue or ()))
    for flag, v in (("--qps", qps), ("--queue", queue), ("--deadline-ms", deadline_ms),
                    ("--find-max-fps", find_max_fps or None)):
        if v is not None:
            raise UsageError(f"{flag} needs a --scenario (stream or server)")
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
    _check_known_issues(Path(targets[0]), backends, allow_known_issue or ())
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


def _check_known_issues(target: Path, backends: list[str] | None,
                        allow: list[str] | tuple[()]) -> None:
    """A bundle's family, opset and profile against the known-bad table, before timing."""
    from ..known_issues import check_allowed, check_bundle

    allowed = check_allowed(allow)
    if target.is_dir() and (target / "manifest.json").is_file():
        from ..bundle import load_bundle

        m = load_bundle(target, verify=False).manifest
        check_bundle(m, m.profile, backends or m.profile.runtimes, allowed)
