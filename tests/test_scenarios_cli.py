"""`edgekit bench --scenario` end to end: bad input refused before any model loads, a smoke
run on ONNX Runtime and OpenVINO at 64 px, INVALID runs failing the gate, unlike scenarios
refused by compare and --baseline, Ctrl-C writing the partial report (exit 130)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import build_bundle, run_cli


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("scen")
    return build_bundle(root, "yolo26n.yaml", "intel-cpu-fp32", imgsz=64, parity=False).bundle


@pytest.mark.parametrize("args, msg", [
    (["--scenario", "stream", "--fps", "0"], "--fps 0: a rate must be above 0"),
    (["--scenario", "stream", "--fps", "-2"], "--fps -2"),
    (["--fps", "0"], "--fps 0"),
    (["--scenario", "stream", "--fps", "30", "--queue", "0"], "--queue 0"),
    (["--scenario", "stream"], "needs its arrival rate"),
    (["--scenario", "server"], "needs its arrival rate: --qps"),
    (["--scenario", "server", "--qps", "5", "--find-max-fps"], "--find-max-fps"),
    (["--scenario", "stream", "--fps", "5", "--min-duration", "-1"], "--min-duration -1"),
    (["--queue", "2"], "--queue needs a --scenario"),
    (["--scenario", "offline", "--model-only"], "--model-only does not apply"),
])
def test_bad_scenario_input_exits_2_in_one_line_before_loading(args, msg, tmp_path):
    r = run_cli("bench", str(tmp_path / "no-such-bundle"), *args)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().count("\n") == 0 and msg in r.stderr
    assert "Traceback" not in r.stderr


def test_stream_smoke_on_onnxruntime_and_openvino(small_bundle, tmp_path):
    out, png = tmp_path / "s.json", tmp_path / "s.png"
    r = run_cli("bench", str(small_bundle), "--scenario", "stream", "--fps", "10",
                "--min-duration", "1", "--min-queries", "10", "--warmup", "2",
                "--json", str(out), "--plot", str(png), env={"COLUMNS": "80"})
    assert r.returncode in (0, 1), r.stderr  # the gate may fail on a busy machine
    rep = json.loads(out.read_text())
    assert rep["scenario"]["name"] == "stream" and rep["scenario"]["params"]["fps"] == 10
    assert set(rep["backends"]) == {"openvino", "onnxruntime"}
    for res in (b["scenario"] for b in rep["backends"].values()):
        assert res["offered"] >= 10 and res["processed"] + res["dropped"] == res["offered"]
        assert res["validity"]["result"] == "VALID" and res["timeline"]
        assert res["early_stopping"]["p99"]["bound_ms"] is None  # 10 frames bound no p99
        assert res["deadline_ms"] == pytest.approx(100.0)
    assert png.stat().st_size > 0
    assert max(len(line) for line in r.stderr.splitlines()) <= 80
    assert "stream at 10 FPS" in r.stderr


def test_a_run_below_the_minimum_is_invalid_and_fails(small_bundle, tmp_path):
    out = tmp_path / "ss.json"
    r = run_cli("bench", str(small_bundle), "--backend", "onnxruntime", "--scenario",
                "single-stream", "--duration", "0.3", "--min-duration", "60", "--warmup", "1",
                "--json", str(out))
    assert r.returncode == 1 and "INVALID" in r.stderr
    res = json.loads(out.read_text())["backends"]["onnxruntime"]["scenario"]
    assert res["validity"]["result"] == "INVALID" and not res["verdict"]["passed"]
    # its twin: the same run with a minimum it meets passes
    r = run_cli("bench", str(small_bundle), "--backend", "onnxruntime", "--scenario",
                "single-stream", "--duration", "0.3", "--min-duration", "0.2",
                "--min-queries", "1", "--warmup", "1", "--json", str(out))
    assert r.returncode == 0, r.stderr


def test_compare_and_baseline_refuse_unlike_scenarios(small_bundle, tmp_path):
    s, b = tmp_path / "stream.json", tmp_path / "plain.json"
    run_cli("bench", str(small_bundle), "--backend", "onnxruntime", "--scenario", "stream",
            "--fps", "5", "--min-duration", "0.5", "--min-queries", "3", "--warmup", "1",
            "--json", str(s))
    run_cli("bench", str(small_bundle), "--backend", "onnxruntime", "--iters", "5",
            "--warmup", "1", "--model-only", "--json", str(b))
    r = run_cli("bench", "compare", str(s), str(b))
    assert r.returncode == 2 and "different scenarios" in r.stderr
    assert run_cli("bench", "compare", str(s), str(s)).returncode == 0  # like with like
    r = run_cli("bench", str(small_bundle), "--scenario", "stream", "--fps", "6",
                "--baseline", str(s))
    assert r.returncode == 2 and "stream at 6 FPS" in r.stderr and "stream at 5 FPS" in r.stderr


def test_ctrl_c_writes_the_partial_report_marked_and_exits_130(small_bundle, tmp_path,
                                                                 monkeypatch):
    from typer.testing import CliRunner

    from edgekit.cli import app
    from edgekit.scenarios import run as scenario_run
    from edgekit.scenarios.clock import RealClock

    class CtrlC(RealClock):
        sleeps = 0

        def sleep_until(self, t_ns):
            CtrlC.sleeps += 1
            if CtrlC.sleeps == 5:
                raise KeyboardInterrupt
            super().sleep_until(t_ns)

    monkeypatch.setattr(scenario_run, "RealClock", CtrlC)
    out = tmp_path / "i.json"
    r = CliRunner().invoke(app, ["bench", str(small_bundle), "--backend", "onnxruntime",
                                 "--scenario", "stream", "--fps", "20", "--duration", "30",
                                 "--warmup", "1", "--json", str(out)])
    assert r.exit_code == 130
    rep = json.loads(out.read_text())
    res = rep["backends"]["onnxruntime"]["scenario"]
    assert rep["interrupted"] and res["validity"]["interrupted"]
    assert res["validity"]["result"] == "INVALID" and res["processed"] >= 4
