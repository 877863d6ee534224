"""Tune's prices (edgekit/tune/pricing.py): the choice among equally fast kept builds goes to
the most faithful, and a prune step whose profiled saving is below the noise is skipped."""

from __future__ import annotations

from types import SimpleNamespace

from edgekit.attribution.mapper import Attribution, Group
from edgekit.tune.candidates import Candidate
from edgekit.tune.pricing import Pricer, choose


def _cand(label, p50, sqnr, float_nodes):
    c = Candidate(label, [], {}, p50_ms=p50, passed=True, float_nodes=float_nodes,
                  worst_metric={"name": "median SQNR dB", "value": sqnr})
    return c


def test_equally_fast_builds_go_to_the_most_faithful_not_the_fewest_float_nodes():
    # what a new user met: full int8 (worst site 14.7 dB) and the profile's default scope
    # (21.3 dB), both as fast within the noise and both keeping mAP
    full = _cand("full int8", 10.0, 14.7, 5)
    default = _cand("profile default scope", 10.2, 21.3, 33)
    chosen, why = choose([full, default], lambda c: c.p50_ms, 0.03)
    assert chosen is default and "faithful" in why


def test_a_faster_build_beyond_the_noise_still_wins():
    """Twin: faithfulness only breaks ties; a build faster by more than the noise wins."""
    full = _cand("full int8", 10.0, 14.7, 5)
    default = _cand("profile default scope", 11.0, 21.3, 33)
    chosen, _ = choose([full, default], lambda c: c.p50_ms, 0.03)
    assert chosen is full
    # and among equally faithful ties, the fewest float nodes
    twin = _cand("twin", 10.1, 14.7, 40)
    assert choose([twin, full], lambda c: c.p50_ms, 0.03)[0] is full


def _attr(blocks, samples):
    return Attribution("openvino", [], 10.0, None, {}, {b: Group(b, ms) for b, ms in
                                                         blocks.items()}, {}, {},
                       samples_ms=samples)


def test_a_prune_whose_profiled_saving_is_below_the_noise_is_skipped():
    pricer = Pricer(SimpleNamespace(plugin=SimpleNamespace(profiles=True)))  # type: ignore[arg-type]
    quiet = [10.0, 10.05, 10.1, 10.0, 10.05, 10.1, 10.0, 10.05]
    kept = _attr({"model.3": 0.50, "model.9": 2.0}, quiet)
    int8 = _attr({"model.3": 0.48, "model.9": 1.2}, quiet)
    assert pricer.below_noise("model.3", kept, int8)  # saves 0.02 ms, noise ~0.05
    assert not pricer.below_noise("model.9", kept, int8)  # saves 0.8 ms: worth a build
    assert [s["block"] for s in pricer.skipped] == ["model.3"]
    # twin: the same saving on a run whose spread is tiny is above the noise
    still = [10.0] * 8
    assert not pricer.below_noise("model.3", _attr({"model.3": 0.5}, still),
                                  _attr({"model.3": 0.48}, still))


def test_the_pricer_profiles_a_real_build_from_the_tuners_reference(bundles_root):
    """Pricer.of on a real OpenVINO IR, fed the way the tuner holds its reference inputs
    (a planted shape fault, the whole stack of samples, fails on the runtime)."""
    import onnx

    from edgekit.parity.run import load_reference
    from edgekit.runtimes import get_runtime
    from tests.conftest import build_bundle

    b = build_bundle(bundles_root / "pricer", "yolo26n.yaml", "intel-cpu-fp32", imgsz=64,
                     parity=False)
    from edgekit.bundle import load_bundle

    bundle = load_bundle(b.bundle)
    t = SimpleNamespace(plugin=get_runtime("openvino"), inputs=load_reference(bundle)["inputs"],
                        iters=4, warmup=1, threads=None, backend="openvino",
                        deployed=onnx.load(str(bundle.file("model.onnx"))), b=bundle)
    pricer = Pricer(t)  # type: ignore[arg-type]
    c = Candidate("fp32", [], {}, precision="fp32")
    c.artifact = b.bundle / "openvino" / "model.xml"
    a = pricer.of(c)
    assert a is not None and a.records and "model.22" in a.blocks
    assert pricer.of(c) is a  # profiled once per candidate
