"""The known-bad environment table: version matching with faked version providers, every
action path beside a twin that does not match, every entry's source, bad ids."""

from __future__ import annotations

import logging

import pytest

from edgekit.errors import BackendError, UsageError
from edgekit.known_issues import TABLE, KnownIssue, Target, check_environment, match, opset_cap

from conftest import run_cli


def fake_versions(monkeypatch, versions: dict[str, str], jetpack: str | None = None) -> None:
    monkeypatch.setattr(match, "package_version", lambda name: versions.get(name))
    monkeypatch.setattr(match, "jetpack_version", lambda: jetpack)


def ids(found) -> set[str]:
    return {m.issue.id for m in found}


RTDETR_TRT = Target(runtimes=("tensorrt",), family="rtdetr", precision="fp16", opset=17)


def test_every_entry_names_a_public_source_and_a_valid_range():
    from packaging.specifiers import SpecifierSet

    assert len({i.id for i in TABLE}) == len(TABLE)
    for i in TABLE:
        assert i.source.startswith("https://"), i.id
        assert i.action in ("warn", "refuse", "workaround"), i.id
        SpecifierSet(i.versions)  # raises on a bad range
        for s in (i.jetpack, i.opset):
            if s:
                SpecifierSet(s)
        assert i.action != "workaround" or i.workaround, i.id


def test_refuse_matches_in_range_and_not_outside(monkeypatch):
    fake_versions(monkeypatch, {"tensorrt": "10.14.1.48"})
    with pytest.raises(BackendError, match="trt-deform-attn-miscompile.*--allow-known-issue"):
        check_environment(RTDETR_TRT)
    fake_versions(monkeypatch, {"tensorrt": "10.13.3"})  # the twin: the last good release
    assert "trt-deform-attn-miscompile" not in ids(check_environment(RTDETR_TRT))
    fake_versions(monkeypatch, {"tensorrt": "11.2.0"})
    assert "trt-deform-attn-miscompile" not in ids(check_environment(RTDETR_TRT))


def test_refuse_is_lifted_by_allow_and_recorded(monkeypatch):
    fake_versions(monkeypatch, {"tensorrt": "11.1.0"})
    found = check_environment(RTDETR_TRT, allow=["trt-deform-attn-miscompile"])
    rec = [m.record() for m in found if m.issue.id == "trt-deform-attn-miscompile"]
    assert rec and rec[0]["allowed"] and rec[0]["installed"] == "11.1.0"


def test_refuse_needs_the_family_and_runtime(monkeypatch):
    fake_versions(monkeypatch, {"tensorrt": "10.14.1"})
    yolo = Target(runtimes=("tensorrt",), family="yolo", precision="fp16", opset=17)
    assert "trt-deform-attn-miscompile" not in ids(check_environment(yolo))
    ov = Target(runtimes=("openvino",), family="rtdetr", precision="fp32", opset=17)
    assert "trt-deform-attn-miscompile" not in ids(check_environment(ov))


def test_warn_logs_one_line_with_its_source(monkeypatch, caplog):
    fake_versions(monkeypatch, {"onnxruntime": "1.23.2"})
    t = Target(runtimes=("onnxruntime",), family="rtdetr", precision="fp32", opset=17)
    with caplog.at_level(logging.WARNING, logger="edgekit"):
        found = check_environment(t)
    assert ids(found) == {"ort-1.23-gridsample-slow"}
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "onnxruntime/issues/27155" in lines[0] and "\n" not in lines[0]
    fake_versions(monkeypatch, {"onnxruntime": "1.22.1"})  # twin: before the regression
    assert check_environment(t) == []


def test_precision_narrows_a_match(monkeypatch):
    fake_versions(monkeypatch, {"tensorrt": "10.3.0"})
    int8 = Target(runtimes=("tensorrt",), family="yolo", precision="int8", opset=17)
    with pytest.raises(BackendError, match="yolo26-int8-trt10.3"):
        check_environment(int8)
    fp16 = Target(runtimes=("tensorrt",), family="yolo", precision="fp16", opset=17)
    assert check_environment(fp16) == []


def test_workaround_caps_the_opset_even_where_tensorrt_is_built_elsewhere(monkeypatch):
    fake_versions(monkeypatch, {})  # tensorrt not installed: a Jetson builds the engine
    t20 = Target(runtimes=("tensorrt",), family="rtdetr", precision="fp16", opset=20)
    found = check_environment(t20)
    assert ids(found) == {"trt-gridsample-opset20"} and opset_cap(found) == 19
    t19 = Target(runtimes=("tensorrt",), family="rtdetr", precision="fp16", opset=19)
    assert check_environment(t19) == [] and opset_cap([]) is None


def test_jetpack_range_matches_only_that_jetpack(monkeypatch):
    fake_versions(monkeypatch, {"tensorrt": "10.13.3"}, jetpack="7.0")
    with pytest.raises(BackendError, match="jetpack7-rtdetr-trt"):
        check_environment(RTDETR_TRT)
    fake_versions(monkeypatch, {"tensorrt": "10.13.3"}, jetpack="6.2")
    assert "jetpack7-rtdetr-trt" not in ids(check_environment(RTDETR_TRT))
    fake_versions(monkeypatch, {"tensorrt": "10.15.1"}, jetpack="7.0")
    assert "jetpack7-rtdetr-trt" not in ids(match.matching(RTDETR_TRT))


def test_a_device_entry_needs_that_device(monkeypatch):
    fake_versions(monkeypatch, {"openvino": "2024.6.0"})
    cpu = Target(runtimes=("openvino",), family="rtdetr", precision="fp32", opset=17)
    assert check_environment(cpu) == []  # edgekit's OpenVINO runs on the CPU plugin
    gpu = Target(runtimes=("openvino",), devices={"openvino": "GPU"}, family="rtdetr",
                 precision="fp32", opset=17)
    assert ids(check_environment(gpu)) == {"ov-gpu-rtdetrv2-empty"}


def test_local_and_prerelease_versions_compare(monkeypatch):
    fake_versions(monkeypatch, {"torch": "2.9.1+cu128"})
    assert "torch-load-cve" in ids(check_environment(Target()))
    fake_versions(monkeypatch, {"torch": "2.14.1+cu130"})
    assert "torch-load-cve" not in ids(check_environment(Target()))
    fake_versions(monkeypatch, {"onnx": "1.21.0rc1"})
    assert "onnx-loading-cves" not in ids(check_environment(Target()))
    fake_versions(monkeypatch, {"onnx": "not-a-version"})
    assert check_environment(Target()) == []


def test_unknown_allowed_id_is_a_usage_error():
    with pytest.raises(UsageError, match="no such known issue"):
        check_environment(Target(), allow=["nope"])


def test_a_custom_table_is_matched_the_same_way(monkeypatch):
    fake_versions(monkeypatch, {"numpy": "1.0"})
    t = (KnownIssue("x", "numpy", "<2", "s", "https://example.org/x", "warn"),)
    assert ids(check_environment(Target(), table=t)) == {"x"}
    fake_versions(monkeypatch, {"numpy": "2.1"})
    assert check_environment(Target(), table=t) == []


@pytest.mark.parametrize("cmd", [["export", "yolo26n.yaml"], ["parity", "."], ["bench", "."]])
def test_cli_unknown_known_issue_id_exits_2_in_one_line(cmd, tmp_path):
    r = run_cli(*cmd, "--allow-known-issue", "no-such-id", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    errs = [ln for ln in r.stderr.splitlines() if ln.startswith("edgekit: error:")]
    assert len(errs) == 1 and "no-such-id" in errs[0] and "Traceback" not in r.stderr


def test_doctor_lists_the_table():
    r = run_cli("doctor", "--known-issues", "--json")
    assert r.returncode == 0, r.stderr
    import json

    rows = json.loads(r.stdout)
    assert {x["id"] for x in rows} == {i.id for i in TABLE}


class _Built:
    """The manifest fields check_bundle reads."""

    def __init__(self, family: str, opset: int):
        self.source = type("S", (), {"family": family})()
        self.opset = opset


def test_a_built_bundle_cannot_take_an_export_time_workaround(monkeypatch):
    from edgekit.known_issues import check_bundle
    from edgekit.profiles import load_profile

    fake_versions(monkeypatch, {"tensorrt": "10.13.3"})
    prof = load_profile("jetson-orin-fp16")
    with pytest.raises(BackendError, match="export it again.*trt-gridsample-opset20"):
        check_bundle(_Built("rtdetr", 20), prof, ["tensorrt"])
    found = check_bundle(_Built("rtdetr", 20), prof, ["tensorrt"],
                         allow=["trt-gridsample-opset20"])
    assert ids(found) == {"trt-gridsample-opset20"}
    assert check_bundle(_Built("rtdetr", 19), prof, ["tensorrt"]) == []  # the twin


def test_doctor_lists_no_entry_for_a_device_edgekit_does_not_drive(monkeypatch):
    fake_versions(monkeypatch, {"onnxruntime": "1.23.0", "openvino": "2024.6.0"})
    here = ids(match.matching(Target()))
    assert "ort-1.23-gridsample-slow" in here  # CPU: what edgekit runs
    assert not {"ort-webgpu-gridsample", "ov-gpu-rtdetrv2-empty"} & here
