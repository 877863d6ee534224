"""What a fleet cell's table row reads of a bench report: the scenario fields as
`bench --scenario` writes them, and plain bench's fields where there is no scenario."""

from __future__ import annotations

from edgekit.fleet.cell import job_report


def _scenario_report(max_fps=None, realtime=True, valid=True, throttled=False) -> dict:
    b = {"scenario": {"realtime": realtime, "validity": {"valid": valid},
                      "throttling": {"detected": throttled}},
         "end_to_end": {"p50": 12.5, "p99": 20.0}, "model_only": {"p50": 9.0, "p99": 11.0}}
    if max_fps is not None:
        b["max_sustained_fps"] = max_fps
    return {"verdict": {"passed": realtime}, "backends": {"openvino": b}}


def test_a_scenario_report_fills_the_real_time_columns():
    s = job_report("bench", _scenario_report(max_fps=41.0))
    assert s == {"passed": True, "backend": "openvino", "p50_ms": 12.5, "p99_ms": 20.0,
                 "max_fps": 41.0, "realtime": True, "valid": True, "throttled": False}
    bad = job_report("bench", _scenario_report(realtime=False, valid=False, throttled=True))
    assert (bad["realtime"], bad["valid"], bad["throttled"], bad["max_fps"]) == (False, False, True, None)


def test_plain_bench_has_no_scenario_verdicts():
    rep = {"verdict": {"passed": True},
           "backends": {"onnxruntime": {"model_only": {"p50": 3.0, "p99": 4.0}}}}
    s = job_report("bench", rep)
    assert s["p50_ms"] == 3.0 and s["realtime"] is None and s["valid"] is None
    assert s["max_fps"] is None and s["throttled"] is None
