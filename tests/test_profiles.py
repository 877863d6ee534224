import pytest
from typer.testing import CliRunner

from edgekit.cli import app
from edgekit.errors import ConfigError, UsageError
from edgekit.profiles import list_profiles, load_profile

SHIPPED = {"onnx-fp32", "onnx-int8", "intel-cpu-fp32", "intel-cpu-int8", "nvidia-gpu-fp16",
           "jetson-orin-fp16", "jetson-orin-int8"}


def test_all_shipped_profiles_validate():
    names = set(list_profiles())
    assert SHIPPED <= names
    for n in names:
        p = load_profile(n)
        assert p.name == n
        assert p.imgsz % 32 == 0


def test_int8_profile_keeps_attention_and_decoder_in_float():
    p = load_profile("intel-cpu-int8")
    assert p.precision.value == "int8"
    assert {"attention", "decoder", "softmax", "gridsample"} <= set(p.calibration.float_scope)


def test_path_works_where_a_name_does(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("runtimes: [onnxruntime]\nimgsz: 320\n")
    p = load_profile(str(f))
    assert p.name == "mine" and p.imgsz == 320


def test_unknown_key_names_file_and_field(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("runtimes: [onnxruntime]\nruntime:\n  threadz: 4\n")
    with pytest.raises(ConfigError) as e:
        load_profile(str(f))
    assert str(f) in str(e.value) and "runtime.threadz" in str(e.value)


def test_wrong_type_names_field(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("runtimes: [onnxruntime]\nimgsz: big\n")
    with pytest.raises(ConfigError, match="imgsz"):
        load_profile(str(f))


def test_imgsz_must_be_multiple_of_32(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("runtimes: [onnxruntime]\nimgsz: 300\n")
    with pytest.raises(ConfigError, match="multiple of 32"):
        load_profile(str(f))


def test_unknown_profile_lists_known_ones():
    with pytest.raises(UsageError, match="intel-cpu-fp32"):
        load_profile("no-such-profile")


def test_cli_overrides_win():
    p = load_profile("intel-cpu-fp32", {"imgsz": 320, "runtime.threads": 2, "batch.size": None})
    assert p.imgsz == 320 and p.runtime.threads == 2 and p.batch.size == 1


def test_tolerance_lookup_per_precision_and_kind():
    p = load_profile("intel-cpu-int8")
    assert p.tolerance("psa_attn").min_cosine == 0.99
    assert p.tolerance("output").min_cosine == 0.98
    assert p.tolerance("deform_attn", "fp32").min_cosine < p.tolerance("psa_attn", "fp32").min_cosine


def test_profiles_cli_list_and_show():
    r = CliRunner().invoke(app, ["profiles", "list"])
    assert r.exit_code == 0 and "intel-cpu-int8" in r.output
    r = CliRunner().invoke(app, ["profiles", "show", "jetson-orin-fp16"])
    assert r.exit_code == 0 and "tensorrt" in r.output and "jetson: true" in r.output
    r = CliRunner().invoke(app, ["profiles", "show", "nope"])
    assert r.exit_code == 2


def test_tolerance_overrides_are_written_for_every_kind_at_the_judged_precision():
    """A tuned profile carries the verdict its build was judged by: the overrides land in
    the table of the precision the profile is judged at, for every site kind, and the
    fields not overridden keep each kind's own built-in value."""
    from typing import get_args

    from edgekit.profiles.schema import Precision, SiteKindName

    p = load_profile("intel-cpu-int8")
    t = p.with_tolerances({"min_median_sqnr_db": 27.0, "max_rel_l2": None})
    for kind in get_args(SiteKindName):
        got, before = t.tolerance(kind), p.tolerance(kind)
        assert got.min_median_sqnr_db == 27.0
        assert got.model_copy(update={"min_median_sqnr_db": before.min_median_sqnr_db}) == before
    assert p.tolerance("psa_attn").min_median_sqnr_db != 27.0  # the source is untouched
    # an fp32 build run at bf16 is judged at bf16: the overrides go there, not to int8
    bf = p.model_copy(update={"precision": Precision.fp32, "float_precision": "bf16"})
    bt = bf.with_tolerances({"min_median_sqnr_db": 27.0})
    assert set(bt.tolerances) - set(p.tolerances) == {Precision.bf16}
    assert bt.tolerance("psa_attn").min_median_sqnr_db == 27.0
    assert bt.tolerance("psa_attn", "int8").min_median_sqnr_db != 27.0
    # twin: no override given, nothing written
    assert p.with_tolerances({"min_median_sqnr_db": None}) is p
