"""Model families as specs in one registry: every registered family has a test fixture that
builds and is detected as that family, and a toy family registered here is what the
preprocessing, decoding, opset choice, block naming and site discovery consult."""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import UsageError
from edgekit.families import (
    REGISTRY,
    FamilySpec,
    OutputFormat,
    families,
    family_of,
    get_family,
    get_format,
    register,
    site_kinds,
    using,
)

ASSETS = Path(__file__).parent / "assets"

#: family name -> a model YAML that builds it (random weights). A new family adds its own.
FIXTURES = {
    "yolo": "yolo26n.yaml",
    "rtdetr": str(ASSETS / "rtdetr-tiny.yaml"),
}


def missing_fixtures(names: list[str], fixtures: dict[str, str]) -> list[str]:
    """The registered families that have no test fixture."""
    return [n for n in names if n not in fixtures]


def test_every_registered_family_has_a_fixture():
    assert families() and not missing_fixtures(families(), FIXTURES)


def test_a_family_without_a_fixture_is_caught():
    # twin: a registry copy with one more family fails the same check
    reg = REGISTRY.copy()
    reg.register(FamilySpec(name="nofixture", head_classes=("NoFixtureHead",)))
    assert missing_fixtures(reg.names(), FIXTURES) == ["nofixture"]
    assert "nofixture" not in families()  # the package's registry is untouched


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_builds_and_is_detected_as_its_family(name):
    from edgekit.models.build import load_model, prepare_for_export
    from edgekit.models.sites import find_sites, query_site
    from edgekit.models.source import resolve_source

    lm = load_model(resolve_source(FIXTURES[name]))
    spec = get_family(name)
    assert lm.family == name and family_of(lm.model) is spec
    assert spec.output_format(lm.head) in spec.formats
    assert find_sites(lm.model)  # attention sites of the family's classes
    model = prepare_for_export(lm, 160)
    assert lm.head.export and lm.head.max_det == min(300, spec.max_candidates(
        lm.head, 160, [int(s) for s in model.stride.tolist()]))
    assert (query_site(model) is None) == (spec.query_module is None)


def test_an_unknown_head_is_refused():
    class OtherHead:
        pass

    class Model:
        model = [OtherHead()]

    with pytest.raises(UsageError, match="unsupported head OtherHead"):
        family_of(Model())


# -- a toy family: one spec, and every piece consults it ------------------------------------

def _decode_toy(x, imgsz, conf, iou, max_det, agnostic):
    # (N, 6): x1, y1, x2, y2 normalised to [0, 1], score, class
    return x[:, :4] * imgsz, x[:, 4], x[:, 5]


TOY_FORMAT = OutputFormat("toy_xyxyn", "(N, 6): x1, y1, x2, y2 in [0, 1], score, class",
                          _decode_toy, clip_boxes=False)


@dataclass(frozen=True, eq=False)
class ToyFamily(FamilySpec):
    name: str = "toy"
    head_classes: tuple[str, ...] = ("ToyHead",)
    resize: str = "stretch"
    opset_floor: int = 13
    opset_floor_reason: str = "ToyOp"
    formats: tuple[OutputFormat, ...] = (TOY_FORMAT,)
    block_pattern: str = r"layers\.\d+"
    site_classes: dict[str, str] = field(default_factory=lambda: {"ToyAttn": "toy_attn"})
    query_module: str | None = "ToyQueries"
    decoder_module: str | None = "dec"


class ToyAttn:
    pass


class ToyQueries:
    pass


class ToyHead:
    pass


class ToyModel:
    def __init__(self):
        self.model = [ToyAttn(), ToyHead()]

    def named_modules(self):
        return [("layers.0.attn", self.model[0]), ("layers.1.dec", ToyQueries()),
                ("layers.1", self.model[1])]


def _toy_pieces() -> dict[str, object]:
    """What each piece of the package says about the toy family's bundle and model."""
    from edgekit.bench.run import postprocess
    from edgekit.export.onnx import choose_opset
    from edgekit.graph import block_of
    from edgekit.models.preprocess import Letterbox, input_spec
    from edgekit.models.sites import find_sites, query_site
    from edgekit.parity.detections import decode
    from edgekit.profiles.schema import Calibration

    out = np.array([[[0.25, 0.125, 0.5, 0.625, 0.9, 3.0]]], dtype=np.float32)
    res: dict[str, object] = {}
    for key, fn in {
        "resize": lambda: input_spec("toy")["resize"],
        "boxes": lambda: decode(out, "toy_xyxyn", 100)[0].boxes.tolist(),
        "unclipped": lambda: postprocess(out, "toy_xyxyn", 100, Letterbox((40, 40), 1.0, 0, 0),
                                         0.25)[0].boxes.tolist(),
        "opset": lambda: choose_opset("toy", 17)[0],
        "family": lambda: family_of(ToyModel()).name,
        "sites": lambda: [(s.name, s.kind) for s in find_sites(ToyModel())],
        "queries": lambda: query_site(ToyModel()).name,
        "float_blocks": lambda: list(Calibration(float_blocks=["layers.2"]).float_blocks),
    }.items():
        try:
            res[key] = fn()
        except Exception as exc:  # noqa: BLE001 - the twin expects refusals
            res[key] = type(exc).__name__
    res["block"] = block_of("/layers.3/conv/Conv")
    res["yolo_block"] = block_of("/model.3/conv/Conv")
    return res


def test_a_toy_family_is_one_spec_and_every_piece_consults_it():
    from edgekit.export.onnx import choose_opset

    with using(REGISTRY.copy()):
        register(ToyFamily())
        got = _toy_pieces()
        with pytest.raises(UsageError, match=r"needs >= 13 \(ToyOp\)"):
            choose_opset("toy", 12)
        assert get_family("toy").is_decoder_site("layers.1.dec.attn")
        assert "toy_attn" in site_kinds() and not get_format("toy_xyxyn").clip_boxes
    assert got == {
        "resize": {"mode": "stretch", "interpolation": "linear"},
        "boxes": [[25.0, 12.5, 50.0, 62.5]],
        "unclipped": [[25.0, 12.5, 50.0, 62.5]],  # beyond the 40 px image: not clipped
        "opset": 17,
        "family": "toy",
        "sites": [("layers.0.attn", "toy_attn")],
        "queries": "layers.1.dec",
        "float_blocks": ["layers.2"],
        "block": "layers.3",
        "yolo_block": "model.3",
    }


def test_without_the_toy_family_every_piece_refuses_it():
    # twin: the same probes with the toy family not registered
    got = _toy_pieces()
    assert got["resize"] == got["opset"] == got["family"] == "UsageError"
    assert got["boxes"] == got["unclipped"] == "ValueError"  # unknown output format
    assert got["float_blocks"] == "ValidationError" and got["block"] is None
    assert got["yolo_block"] == "model.3"


def test_registry_refuses_a_second_family_of_a_name_or_a_taken_output_format():
    reg = REGISTRY.copy()
    with pytest.raises(ValueError, match="registered already"):
        reg.register(FamilySpec(name="yolo"))
    with pytest.raises(ValueError, match="belongs to family 'rtdetr'"):
        reg.register(FamilySpec(name="clash", formats=(
            OutputFormat("rtdetr", "", _decode_toy),)))


def test_profile_site_kinds_cover_every_family():
    """The tolerance keys a profile accepts are the families' site kinds (plus default,
    queries and output): a family bringing a new kind adds it to SiteKindName."""
    from typing import get_args

    from edgekit.profiles.schema import SiteKindName

    assert set(get_args(SiteKindName)) == site_kinds() | {"default", "queries", "output"}
    with using(REGISTRY.copy()):  # twin: a family with a kind the schema does not know
        register(ToyFamily())
        assert set(get_args(SiteKindName)) != site_kinds() | {"default", "queries", "output"}
