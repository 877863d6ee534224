"""``edgekit bench --scenario``: parse into a ScenarioConfig, check it before any model
loads, run, render, write the reports, gate (exit 1), or exit 130 when interrupted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._common import backend_list, write_reports


def scenario_bench(target: str, console: Any, *, name: str, fps: float | None,
                   qps: float | None, queue: int | None, deadline_ms: float | None,
                   max_drop_pct: float, find_max_fps: bool, min_duration: float,
                   min_queries: int, seed: int, backend: str | None, warmup: int,
                   iters: int | None, duration: float | None, threads: int | None,
                   hint: str | None, budget_ms: float | None, percentile: float,
                   json_out: str | None, plot: str | None, baseline: Path | None,
                   max_regression: float, trust_checkpoint: bool,
                   known_issues: Any = None) -> None:
    from .._paths import check_writable_file
    from ..errors import GateFailed, Interrupted, UsageError
    from ..scenarios import ScenarioConfig, check

    if name != "stream" and fps is not None:
        if budget_ms is not None:
            raise UsageError("give --budget-ms or --fps, not both")
        budget_ms = 1000.0 / fps  # bench's older meaning: the budget as a frame rate
        fps = None
    if hint == "throughput":
        raise UsageError("--hint throughput is bench's async mode; --scenario offline is "
                         "the scenario for throughput")
    cfg = ScenarioConfig(name=name, fps=fps, qps=qps, queue=queue, deadline_ms=deadline_ms,
                         max_drop_pct=max_drop_pct, find_max_fps=find_max_fps,
                         min_duration_s=min_duration, min_queries=min_queries,
                         duration_s=duration, iters=iters, seed=seed, percentile=percentile,
                         budget_ms=budget_ms, warmup=warmup)
    check(cfg)
    if known_issues is not None:  # the known-bad table, after the flags, before any model
        known_issues()
    check_writable_file(json_out, "--json")
    check_writable_file(plot, "--plot")
    from ..bench.report import check_same_scenario, load_report, markdown, scenario_of

    base = None
    if baseline is not None:
        base = load_report(baseline, "--baseline")
        check_same_scenario([("this run", {"scenario": {"name": name,
                                                        "params": cfg.to_json()}}),
                             (str(baseline), base)])
    from ..bench.run import BenchConfig, regression
    from ..scenarios import run_scenario
    from .render.scenario import render_scenario

    bcfg = BenchConfig(backends=backend_list(backend), warmup=warmup, iters=iters,
                       duration_s=duration, threads=threads, hint=hint,
                       trust_checkpoint=trust_checkpoint)
    report = run_scenario(target, cfg, bcfg)
    if base is not None:
        report["regression"] = regression(report, base, max_regression)
    render_scenario(report, console)
    from ..scenarios.plot import plot as draw  # matplotlib loads only when drawing

    write_reports(report, json_out, markdown=markdown, files=(("--plot", plot, draw),))
    if report.get("interrupted"):
        raise Interrupted("interrupted: the report holds what was measured, marked INVALID")
    failed = [f"{b}: {why}" for b, r in report["backends"].items()
              for why in r["scenario"]["verdict"]["failed"]]
    if report.get("regression") and not report["regression"]["passed"]:
        failed.append(f"p50 regressed more than {max_regression:g}% against the baseline")
    if failed:
        raise GateFailed(f"{scenario_of(report)} gate failed: " + "; ".join(failed))
