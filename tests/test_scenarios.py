"""Scenario accounting on a virtual clock: a stand-in system under test with scripted
service times (20 ms, and 60 ms every 10th call) proves drops, deadline misses, queueing
latency, achieved FPS and the max-FPS search exactly; a faster stand-in passes each."""

from __future__ import annotations

import pytest

from edgekit.errors import UsageError
from edgekit.scenarios import ScenarioConfig, check
from edgekit.scenarios.clock import RealClock, VirtualClock
from edgekit.scenarios.core import measure
from edgekit.scenarios.search import find_max_fps

MS = 1_000_000


class Scripted:
    """Takes ``ms`` per call, ``slow_ms`` on every ``every``-th call, on a virtual clock."""

    def __init__(self, clock: VirtualClock, ms: float = 20, slow_ms: float = 60,
                 every: int = 10) -> None:
        self.clock, self.ms, self.slow_ms, self.every, self.calls = clock, ms, slow_ms, every, 0

    def __call__(self, _i: int) -> None:
        self.calls += 1
        slow = self.every and self.calls % self.every == 0
        self.clock.advance(round((self.slow_ms if slow else self.ms) * MS))


def stream(fps, n, sut_ms=20, slow_ms=60, **kw):
    clock = VirtualClock()
    cfg = ScenarioConfig(name="stream", fps=fps, iters=n, min_duration_s=0, min_queries=1, **kw)
    return measure(Scripted(clock, sut_ms, slow_ms), clock, cfg)


def lat_counts(res):
    lat = [e - a for a, e in zip(res["samples"]["arrival_ms"], res["samples"]["end_ms"],
                                 strict=True) if e is not None]
    return {v: lat.count(v) for v in sorted(set(round(x, 6) for x in lat))}


def test_a_slow_frame_every_tenth_misses_its_deadline_and_queues_the_next():
    # 25 FPS (40 ms): frame 9 takes 60 ms (a miss), frame 10 waits 20 ms for it, ends 40 ms
    # after its arrival (on the deadline: not a miss); 100 frames, no drops, 10 misses
    res = stream(25, 100)
    assert (res["offered"], res["processed"], res["dropped"]) == (100, 100, 0)
    assert res["deadline_misses"] == 10 and res["lost_pct"] == pytest.approx(10.0)
    assert lat_counts(res) == {20.0: 81, 40.0: 9, 60.0: 10}
    assert res["queue_wait"]["max"] == pytest.approx(20.0) and res["queue_wait"]["n"] == 100
    # the last frame (60 ms) ends at 3960 + 60 ms: 100 results in 4.02 s
    assert res["achieved_fps"] == pytest.approx(100 / 4.02)
    assert res["realtime"] is False and not res["verdict"]["passed"]
    assert res["verdict"]["headline"] == "not real-time at 25 FPS"


def test_within_the_allowed_loss_the_same_run_is_real_time():
    assert stream(25, 100, max_drop_pct=10)["verdict"]["passed"]
    assert not stream(25, 100, max_drop_pct=9.9)["verdict"]["passed"]


def test_a_faster_pipeline_holds_the_rate():
    res = stream(25, 100, sut_ms=10, slow_ms=10)
    assert (res["dropped"], res["deadline_misses"], res["lost_pct"]) == (0, 0, 0.0)
    assert res["achieved_fps"] == pytest.approx(25.0)
    assert res["latency"]["max"] == pytest.approx(10.0)
    assert res["verdict"]["passed"] and res["verdict"]["headline"] == "real-time at 25 FPS"


def test_a_full_queue_drops_the_oldest_frame():
    # 40 FPS (25 ms), queue 1: frame 9 (60 ms) is busy while frames 10 and 11 arrive;
    # 11 pushes 10 out; 11 starts 10 ms late and ends 30 ms after arrival (a miss); 12
    # waits 5 ms and ends on its deadline; the same again from frame 20 (call 20)
    res = stream(40, 30)
    assert (res["offered"], res["processed"], res["dropped"]) == (30, 28, 2)
    assert res["deadline_misses"] == 4 and res["lost_pct"] == pytest.approx(20.0)
    dropped = [i for i, d in enumerate(res["samples"]["dropped_ms"]) if d is not None]
    assert dropped == [10, 21]
    assert res["samples"]["dropped_ms"][10] == pytest.approx(275.0)  # when frame 11 came
    assert lat_counts(res) == {20.0: 22, 25.0: 2, 30.0: 2, 60.0: 2}
    assert res["achieved_fps"] == pytest.approx(28 / 0.750)


def test_a_deeper_queue_still_drops_the_oldest():
    # 100 FPS, queue 2: frame 0 takes 60 ms while frames 1-6 arrive; each arrival to the
    # full queue pushes out its oldest (1 at 30 ms, 2 at 40, 3 at 50, 4 at 60); 5 and 6 run
    clock = VirtualClock()
    times = iter([60] + [5] * 20)
    cfg = ScenarioConfig(name="stream", fps=100, iters=10, queue=2, min_duration_s=0,
                         min_queries=1)
    res = measure(lambda i: clock.advance(next(times) * MS), clock, cfg)
    dropped = {i: d for i, d in enumerate(res["samples"]["dropped_ms"]) if d is not None}
    assert dropped == {1: 30.0, 2: 40.0, 3: 50.0, 4: 60.0}
    assert lat_counts(res) == {5.0: 3, 10.0: 1, 15.0: 1, 60.0: 1}


def test_a_longer_queue_trades_the_drop_for_latency():
    res = stream(40, 30, queue=2)
    assert res["dropped"] == 0 and res["latency"]["max"] == pytest.approx(60.0)
    assert res["queue_wait"]["max"] > 10.0


def test_the_max_fps_search_finds_the_rate_the_slow_frame_allows():
    # a 60 ms frame meets a one-period deadline at 60 ms periods and no shorter ones
    clock = VirtualClock()
    cfg = ScenarioConfig(name="stream", find_max_fps=True, min_duration_s=1, min_queries=50)
    out = find_max_fps(Scripted(clock), clock, cfg)
    assert 1000 / 60 * 0.99 <= out["max_fps"] <= 1000 / 60
    assert out["at_max"]["validity"]["valid"] and out["at_max"]["verdict"]["passed"]
    assert any(not p["passed"] and p["fps"] > 1000 / 60 for p in out["probes"])


def test_the_max_fps_search_of_a_faster_pipeline():
    clock = VirtualClock()
    cfg = ScenarioConfig(name="stream", find_max_fps=True, min_duration_s=1, min_queries=50)
    out = find_max_fps(Scripted(clock, 10, 10), clock, cfg)
    assert 100 * 0.99 <= out["max_fps"] <= 100


def test_loadgen_rule_runs_until_both_minimums():
    clock = VirtualClock()
    cfg = ScenarioConfig(name="stream", fps=25, min_duration_s=2, min_queries=10)
    res = measure(Scripted(clock, 10, 10), clock, cfg)
    assert res["offered"] == 50 and res["validity"]["valid"]  # 2 s at 25 FPS
    cfg = ScenarioConfig(name="stream", fps=25, min_duration_s=0.1, min_queries=80)
    assert measure(Scripted(clock, 10, 10), clock, cfg)["offered"] == 80


def test_a_run_shorter_than_the_minimum_is_invalid_and_fails_the_gate():
    clock = VirtualClock()
    cfg = ScenarioConfig(name="stream", fps=25, duration_s=1, min_duration_s=10, min_queries=10)
    res = measure(Scripted(clock, 10, 10), clock, cfg)
    assert res["realtime"] and res["validity"]["result"] == "INVALID"
    assert not res["verdict"]["passed"] and "INVALID" in res["verdict"]["failed"][0]
    cfg.min_duration_s = 1  # its twin: long enough, and valid
    assert measure(Scripted(clock, 10, 10), clock, cfg)["verdict"]["passed"]


def test_too_few_queries_is_invalid():
    clock = VirtualClock()
    cfg = ScenarioConfig(name="single-stream", iters=20, min_duration_s=0, min_queries=100)
    res = measure(Scripted(clock, 10, 10), clock, cfg)
    assert res["validity"]["reasons"] == ["20 queries < the minimum 100"]
    cfg.iters = 100
    assert measure(Scripted(clock, 10, 10), clock, cfg)["validity"]["valid"]


def test_the_gate_is_on_the_bound_not_the_raw_percentile():
    # 100 single-stream frames, 60 ms every 10th: the measured p90 is 20-ish ms, but 100
    # samples cannot bound p90 below a 60 ms frame at 99% confidence
    clock = VirtualClock()
    cfg = ScenarioConfig(name="single-stream", iters=100, min_duration_s=0, min_queries=1,
                         percentile=90, budget_ms=30)
    res = measure(Scripted(clock), clock, cfg)
    es = res["early_stopping"]["p90"]
    assert es["measured_ms"] <= 30 < es["bound_ms"] == 60.0
    assert not res["verdict"]["passed"]
    cfg.budget_ms = 60  # the twin: a budget the bound meets
    assert measure(Scripted(clock), clock, cfg)["verdict"]["passed"]


def test_server_arrivals_are_seeded_poisson():
    from edgekit.scenarios import arrivals

    a = [t for t, _ in zip(arrivals.poisson(50, seed=3), range(20001), strict=False)]
    b = [t for t, _ in zip(arrivals.poisson(50, seed=3), range(20001), strict=False)]
    c = [t for t, _ in zip(arrivals.poisson(50, seed=4), range(20001), strict=False)]
    assert a == b and a != c and a[0] == 0 and a == sorted(a)
    assert 20000 / (a[-1] / 1e9) == pytest.approx(50, rel=0.03)


def test_offline_processes_everything_that_arrived_at_once():
    clock = VirtualClock()
    cfg = ScenarioConfig(name="offline", iters=50, min_duration_s=0, min_queries=1)
    res = measure(Scripted(clock, 10, 10), clock, cfg)
    assert res["processed"] == 50 and res["dropped"] == 0
    assert res["achieved_fps"] == pytest.approx(100.0)
    assert res["latency"]["max"] == pytest.approx(500.0)  # the last waited for all


def test_throttling_is_a_drift_of_the_service_time():
    clock = VirtualClock()
    cfg = ScenarioConfig(name="single-stream", iters=100, min_duration_s=0, min_queries=1)
    sut = Scripted(clock, 10, 10)
    steady = measure(sut, clock, cfg)["throttling"]
    assert steady["checked"] and not steady["detected"]

    class Heating(Scripted):
        def __call__(self, i):
            self.calls += 1
            self.clock.advance(round((10 + self.calls * 0.1) * MS))

    hot = measure(Heating(clock), clock, cfg)["throttling"]
    assert hot["detected"] and hot["drift_pct"] > 50


def test_an_interrupted_run_keeps_what_it_measured_marked_invalid():
    clock = VirtualClock()

    class Stopped(Scripted):
        def __call__(self, i):
            if self.calls == 30:
                raise KeyboardInterrupt
            super().__call__(i)

    cfg = ScenarioConfig(name="stream", fps=25, iters=100, min_duration_s=0, min_queries=1)
    res = measure(Stopped(clock, 10, 10), clock, cfg)
    assert res["processed"] == 30 and res["validity"]["interrupted"]
    assert res["validity"]["result"] == "INVALID" and not res["verdict"]["passed"]


def test_the_real_clock_keeps_time_briefly():
    import time

    clock = RealClock()
    cfg = ScenarioConfig(name="stream", fps=100, iters=20, min_duration_s=0, min_queries=1)
    res = measure(lambda i: time.sleep(0.001), clock, cfg)
    assert res["processed"] + res["dropped"] == 20
    assert res["arrival_lateness"]["n"] > 0 and res["span_s"] >= 0.19


@pytest.mark.parametrize("kw, msg", [
    (dict(name="stream", fps=0), "--fps 0"), (dict(name="stream", fps=-5), "--fps -5"),
    (dict(name="stream"), "needs its arrival rate"), (dict(name="server"), "--qps Q"),
    (dict(name="stream", fps=30, queue=0), "--queue 0"),
    (dict(name="stream", fps=30, min_duration_s=-1), "--min-duration -1"),
    (dict(name="server", qps=5, find_max_fps=True), "--find-max-fps"),
    (dict(name="single-stream", find_max_fps=True), "--find-max-fps"),
    (dict(name="camera"), "--scenario camera"),
])
def test_bad_scenario_input_is_refused(kw, msg):
    with pytest.raises(UsageError, match=msg.replace("-", r"\-")):
        check(ScenarioConfig(**kw))
    check(ScenarioConfig(name="stream", fps=30))  # the twin: a good one passes


def test_the_timeline_counts_each_second_and_a_clock_drop_is_throttling():
    from edgekit.scenarios.timeline import Sampler

    def run(mhz_at):
        clock = VirtualClock()
        sampler = Sampler(read=lambda: {"cpu_mhz": mhz_at(clock.now() / 1e9)})
        cfg = ScenarioConfig(name="stream", fps=40, duration_s=20, min_duration_s=0,
                             min_queries=1)
        return measure(Scripted(clock), clock, cfg, sampler=sampler)

    res = run(lambda t: 3000.0 if t < 10 else 2000.0)
    rows = res["timeline"]
    assert [r["t_s"] for r in rows] == list(range(len(rows))) and len(rows) >= 20
    assert sum(r["results"] for r in rows) == res["processed"]
    assert sum(r["dropped"] for r in rows) == res["dropped"] > 0
    assert sum(r["offered"] for r in rows) == res["offered"] == 800
    assert rows[0]["cpu_mhz"] == 3000.0 and rows[-1]["cpu_mhz"] == 2000.0
    th = res["throttling"]
    assert th["detected"] and th["cpu_mhz_drop_pct"] == pytest.approx(100 / 3)
    steady = run(lambda t: 3000.0)["throttling"]  # the twin: a steady clock
    assert not steady["detected"] and steady["cpu_mhz_drop_pct"] == 0.0


def test_jetson_stats_readings_join_the_timeline_where_jtop_answers(monkeypatch):
    import sys
    import types

    from edgekit.scenarios.timeline import Sampler

    class FakeJtop:  # jetson-stats' client: start(), .stats, close()
        closed = False

        def start(self):
            pass

        @property
        def stats(self):
            return {"GPU": 61, "Temp gpu": 48.5, "Power TOT": 7200, "RAM": 0.4, "time": object()}

        def close(self):
            FakeJtop.closed = True

    monkeypatch.setitem(sys.modules, "jtop", types.SimpleNamespace(jtop=FakeJtop))
    clock = VirtualClock()
    sampler = Sampler(read=lambda: {})
    cfg = ScenarioConfig(name="stream", fps=10, duration_s=2, min_duration_s=0, min_queries=1)
    rows = measure(Scripted(clock, 10, 10), clock, cfg, sampler=sampler)["timeline"]
    sampler.close()
    assert rows[0]["jetson"] == {"GPU": 61, "Temp gpu": 48.5, "Power TOT": 7200}
    assert FakeJtop.closed
    monkeypatch.setitem(sys.modules, "jtop", None)  # the twin: no jetson-stats, no readings
    sampler = Sampler(read=lambda: {})
    rows = measure(Scripted(clock, 10, 10), clock, cfg, sampler=sampler)["timeline"]
    assert "jetson" not in rows[0]
