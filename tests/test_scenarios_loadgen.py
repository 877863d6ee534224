"""edgekit drives its own arrivals (LoadGen has no camera stream with drops); this checks
its semantics against MLPerf LoadGen itself, where the wheel installs (x86_64): the same
stop rule (both minimums), the same early-stopping count, the same Poisson rate."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

lg = pytest.importorskip("mlperf_loadgen")

from edgekit.scenarios import ScenarioConfig  # noqa: E402
from edgekit.scenarios.clock import VirtualClock  # noqa: E402
from edgekit.scenarios.core import measure  # noqa: E402
from edgekit.scenarios.validity import early_stopping  # noqa: E402


def run_loadgen(tmp_path, scenario, *, service_s=0.0005, **settings):
    """A stand-in SUT answering each query after ``service_s``; LoadGen's summary text."""
    def issue(queries):
        for q in queries:
            time.sleep(service_s)
            lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0)])

    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(64, 64, lambda s: None, lambda s: None)
    ts = lg.TestSettings()
    ts.scenario = scenario
    ts.mode = lg.TestMode.PerformanceOnly
    for k, v in settings.items():
        setattr(ts, k, v)
    log = lg.LogSettings()
    log.log_output.outdir = str(tmp_path)
    log.log_output.copy_summary_to_stdout = False
    try:
        lg.StartTestWithLogSettings(sut, qsl, ts, log)
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    return (tmp_path / "mlperf_log_summary.txt").read_text()


def test_single_stream_stops_at_the_query_minimum_and_early_stopping_agrees(tmp_path):
    text = run_loadgen(tmp_path, lg.TestScenario.SingleStream, min_query_count=300,
                       min_duration_ms=10, single_stream_expected_latency_ns=500_000)
    n = int(re.search(r"Processed at least \d+ queries \((\d+)\)", text).group(1))
    discard = int(re.search(r"Would discard (\d+) highest", text).group(1))
    clock = VirtualClock()
    cfg = ScenarioConfig(name="single-stream", min_queries=300, min_duration_s=0.01)
    ours = measure(lambda i: clock.advance(500_000), clock, cfg)
    assert ours["processed"] == n == 300  # both stop at the count once the time is met
    assert early_stopping(np.arange(n), 90)["discarded"] == discard


def test_the_early_stopping_minimum_is_loadgens(tmp_path):
    text = run_loadgen(tmp_path, lg.TestScenario.SingleStream, min_query_count=100,
                       min_duration_ms=10, single_stream_expected_latency_ns=500_000)
    need = int(re.search(r"Processed at least (\d+) queries", text).group(1))
    assert early_stopping(np.arange(100), 90)["min_samples"] == need  # 64
    # 100 queries bound no p99: LoadGen names the count that would
    need99 = int(re.search(r"least (\d+) total queries", text).group(1))
    es = early_stopping(np.arange(100), 99)
    assert es["bound_ms"] is None and es["min_samples"] == need99  # 662


def test_server_poisson_rate_matches_loadgen(tmp_path):
    text = run_loadgen(tmp_path, lg.TestScenario.Server, server_target_qps=400,
                       min_query_count=800, min_duration_ms=1000,
                       server_target_latency_ns=100_000_000, service_s=0)
    lg_rate = float(re.search(r"Scheduled samples per second\s*:\s*([\d.]+)", text).group(1))
    clock = VirtualClock()
    cfg = ScenarioConfig(name="server", qps=400, min_queries=800, min_duration_s=1.0,
                         queue=10_000)
    ours = measure(lambda i: clock.advance(100_000), clock, cfg, keep_samples=True)
    our_rate = (ours["offered"] - 1) / (ours["samples"]["arrival_ms"][-1] / 1e3)
    assert lg_rate == pytest.approx(400, rel=0.15) and our_rate == pytest.approx(400, rel=0.15)
    assert ours["offered"] >= 800 and ours["validity"]["valid"]
