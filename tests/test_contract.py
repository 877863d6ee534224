"""The typed bundle contract: the manifest's models, its schema versions, and how a bad
manifest is refused (exit 4, one line naming the file and the field)."""

from __future__ import annotations

import json
import shutil

import pytest
from pydantic import ValidationError

from edgekit.bundle import MANIFEST, SCHEMA_VERSION, Manifest, load_bundle, parse_manifest, write_manifest
from edgekit.errors import IntegrityError

from conftest import ASSETS, copy_bundle, run_cli

V1 = {"yolo": ASSETS / "manifest-v1-yolo26n-fp32.json",
      "rtdetr": ASSETS / "manifest-v1-rtdetr-tiny-int8.json"}


def _bundle_with(tmp_path, data: dict, name: str = "b"):
    """A bundle directory holding only a manifest (its ``files`` list is empty)."""
    d = tmp_path / name
    d.mkdir()
    (d / MANIFEST).write_text(json.dumps(data, indent=2) + "\n")
    return d


def _v1(which: str = "yolo") -> dict:
    return json.loads(V1[which].read_text())


@pytest.mark.parametrize("which", sorted(V1))
def test_a_version_1_manifest_loads_as_the_current_model(tmp_path, which):
    """Manifests written by edgekit before the typed contract (schema 1, made by that code)
    load; written again they are the same JSON, in the same order, but for the version
    number and the profile's fields added since (written with their defaults)."""
    from edgekit.profiles.schema import Profile

    text = V1[which].read_text()
    b = load_bundle(_bundle_with(tmp_path, json.loads(text)))
    m = b.manifest
    assert SCHEMA_VERSION == 2 and m.schema_version == SCHEMA_VERSION
    assert m.source.family == which and m.input.imgsz == 160 and m.taps
    want = {**json.loads(text), "schema_version": 2}
    want["profile"] = Profile.model_validate(want["profile"]).model_dump(mode="json")
    assert m.to_json() == json.dumps(want, indent=2) + "\n"


def test_the_rtdetr_v1_manifest_keeps_its_runtime_section_and_query_axes(tmp_path):
    m = load_bundle(_bundle_with(tmp_path, _v1("rtdetr"))).manifest
    assert m.runtime("openvino")["nncf"]["fake_quantize_ops"] > 0
    assert m.runtime("tensorrt") is None and list(m.runtimes) == ["openvino"]
    queries = next(t for t in m.taps if t.kind == "queries")
    assert queries.query_axis == 1 and queries.input_refs is None
    assert m.images.calibration["count"] == 32


def test_an_exported_manifest_reads_back_byte_for_byte(yolo_bundle):
    text = (yolo_bundle.bundle / MANIFEST).read_text()
    m = load_bundle(yolo_bundle.bundle).manifest
    assert m == yolo_bundle.manifest
    assert m.to_json() == text and json.loads(text)["schema_version"] == SCHEMA_VERSION


@pytest.mark.parametrize("version", [3, 0, "2", None, True])
def test_an_unknown_schema_version_is_refused_in_one_line(tmp_path, version):
    data = _v1()
    if version is None:
        del data["schema_version"]
    else:
        data["schema_version"] = version
    b = _bundle_with(tmp_path, data)
    r = run_cli("inspect", str(b))
    assert r.returncode == 4, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert str(b / MANIFEST) in lines[0] and "schema_version" in lines[0]


@pytest.mark.parametrize("version", [1, 2])
def test_a_readable_schema_version_loads(tmp_path, version):
    """The twin of the refusal above: the same manifest with a version edgekit reads."""
    data = _v1()
    data["schema_version"] = version
    r = run_cli("inspect", str(_bundle_with(tmp_path, data)), "--json")
    assert r.returncode == 0, r.stderr
    assert [t["name"] for t in json.loads(r.stdout)] == [t["name"] for t in data["taps"]]


@pytest.mark.parametrize("path,value,field", [
    (("input", "imgsz"), "big", "input.imgsz"),
    (("taps", 0, "shape"), "1x128", "taps.0.shape"),
    (("source", "random_weights"), [], "source.random_weights"),
    (("profile", "precision"), "int4", "profile.precision"),
    (("tap",), [1], "tap"),  # a misspelt section is no runtime section (those are objects)
])
def test_a_field_of_the_wrong_type_is_refused_naming_the_field(tmp_path, path, value, field):
    data = _v1()
    node = data
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    b = _bundle_with(tmp_path, data)
    r = run_cli("inspect", str(b))
    assert r.returncode == 4, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert str(b / MANIFEST) in lines[0] and f"'{field}'" in lines[0]
    with pytest.raises(IntegrityError, match=f"field '{field}'"):
        parse_manifest(data, b / MANIFEST)


def test_the_untouched_manifest_passes_the_same_checks():
    """The twin of the wrong-type cases: the fixture they edit is itself valid."""
    assert isinstance(parse_manifest(_v1(), "x"), Manifest)


def test_a_missing_field_is_named():
    data = _v1()
    del data["output"]["format"]
    with pytest.raises(IntegrityError, match="field 'output.format': Field required"):
        parse_manifest(data, "x")


def test_the_models_are_frozen():
    m = parse_manifest(_v1(), "x")
    for obj, attr, value in [(m, "opset", 11), (m.input, "imgsz", 320), (m.taps[0], "kind", "x"),
                             (m.source, "seed", 1), (m.profile, "imgsz", 320)]:
        with pytest.raises(ValidationError, match="frozen"):
            setattr(obj, attr, value)
    # a change is a new, validated manifest; the old one stays as it was
    m2 = m.replace(opset=18)
    assert (m.opset, m2.opset) == (17, 18)
    with pytest.raises(ValidationError):
        m.replace(opset="eighteen")


def test_a_new_runtime_adds_its_section_without_a_model_change(tmp_path):
    """Runtime sections are the open part of the contract: any runtime's section round-trips
    through the file, and removing it drops its artifact too."""
    d = tmp_path / "b"
    d.mkdir()
    (d / "toy").mkdir()
    (d / "toy" / "model.npz").write_bytes(b"weights")
    m = parse_manifest(_v1(), "x").with_runtime("toy", {"precision": "fp32", "ops": 3},
                                                artifact="toy/model.npz",
                                                timings={"toy": 0.5})
    write_manifest(d, m)
    b = load_bundle(d)
    assert b.manifest.runtime("toy") == {"precision": "fp32", "ops": 3}
    assert b.artifact("toy") == d / "toy" / "model.npz" and b.manifest.timings_s["toy"] == 0.5
    assert b.manifest.files == {"toy/model.npz": b.manifest.files["toy/model.npz"]}
    gone = b.manifest.without_runtime("toy")
    assert gone.runtime("toy") is None and "toy" not in gone.artifacts


def test_parity_runs_explicit_artifacts_against_the_bundle(yolo_bundle, tmp_path):
    """``run_parity(artifacts=...)`` checks another file against the bundle's reference (what
    tune does with its candidates): a copy of the deployed model passes, a copy with one
    site's weights scaled fails at that site, and the report names the file it ran."""
    from edgekit.parity.run import run_parity

    from faults import perturb_site_weights

    b = load_bundle(yolo_bundle.bundle)
    same = tmp_path / "same.onnx"
    shutil.copy(b.file("model.onnx"), same)
    rep = run_parity(b, b.manifest.profile, ["onnxruntime"], artifacts={"onnxruntime": same})
    assert rep["passed"] and rep["backends"]["onnxruntime"]["artifact"] == str(same)

    bad = copy_bundle(yolo_bundle.bundle, tmp_path / "bad")
    perturb_site_weights(bad, "model.10.m.0.attn", scale=3.0)
    rep = run_parity(b, b.manifest.profile, ["onnxruntime"],
                     artifacts={"onnxruntime": bad / "model.onnx"})
    res = rep["backends"]["onnxruntime"]
    assert not rep["passed"] and res["first_divergent"] == "model.10.m.0.attn"
    assert res["artifact"] == str(bad / "model.onnx")
