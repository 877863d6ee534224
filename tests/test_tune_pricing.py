"""Tune's prices (edgekit/tune/pricing.py): the choice among equally fast kept builds goes to
the most faithful, and prune steps go largest profiled saving first while the savings left
beat the noise."""

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


def _attr(blocks, samples, p50=1.0):
    return Attribution("openvino", [], p50, None, {}, {b: Group(b, ms) for b, ms in
                                                        blocks.items()}, {}, {},
                       samples_ms=samples)


def _pricer():
    return Pricer(SimpleNamespace(plugin=SimpleNamespace(profiles=True)))  # type: ignore[arg-type]


# IQR 0.1 ms over 8 runs: the standard error of a median 0.033 ms, of the difference of two
# such runs' medians 0.046 ms
QUIET = [10.0, 10.05, 10.1, 10.0, 10.05, 10.1, 10.0, 10.05]


def test_the_noise_is_the_standard_error_of_the_difference_of_medians():
    from edgekit.attribution.costbenefit import noise_of

    assert abs(noise_of(QUIET) - 0.0328) < 5e-4
    assert abs(noise_of(QUIET, QUIET) - 0.0464) < 5e-4
    assert noise_of(QUIET * 4) < noise_of(QUIET) / 1.9  # four times the runs: half the error
    assert noise_of([1.0, 9.0, 1.0], QUIET) == noise_of(QUIET)  # too few to count


def test_prunes_go_largest_saving_first_and_stop_when_the_savings_left_are_below_the_noise():
    p = _pricer()
    kept = _attr({"model.3": 0.50, "model.9": 2.0, "model.5": 1.0, "model.7": 0.3}, QUIET)
    int8 = _attr({"model.3": 0.48, "model.9": 1.2, "model.5": 1.0, "model.7": 0.31}, QUIET)
    # model.9 saves 0.8 ms, model.3 0.02 ms (alone below the noise, and nothing after it),
    # model.5 nothing, model.7 costs time quantized
    order = ["model.3", "model.5", "model.7", "model.9"]  # least error-adding first
    assert p.plan(order, kept, int8) == ["model.9"]
    assert {s["block"]: s["why"] for s in p.skipped} == {
        "model.3": "the savings left are below the noise", "model.5": "saves nothing",
        "model.7": "saves nothing"}


def test_savings_each_below_the_noise_are_taken_while_together_they_beat_it():
    """Ten blocks each saving 0.02 ms (0.4 of the noise) save 0.2 ms together: the first
    ones are worth builds, until what is left (at most 0.046 ms) could not be seen."""
    names = [f"model.{i}" for i in range(10)]
    kept = _attr(dict.fromkeys(names, 0.5), QUIET)
    int8 = _attr(dict.fromkeys(names, 0.48), QUIET)
    p = _pricer()
    assert p.plan(names, kept, int8) == names[:8]  # ties keep the error order
    assert [s["block"] for s in p.skipped] == names[8:]
    # twin: on a model whose p50 is 10 ms, 0.2 ms is within the 3% tie band: a build that
    # much faster would lose the choice to the more faithful one, so no step is taken
    p = _pricer()
    assert p.plan(names, _attr(dict.fromkeys(names, 0.5), QUIET, p50=10.0),
                  _attr(dict.fromkeys(names, 0.48), QUIET, p50=10.0)) == []
    assert {s["why"] for s in p.skipped} == {"the savings left are within the 3% tie band"}
    # twin: on runs this noisy (difference of medians 0.23 ms), no step is worth a build
    noisy = [10.0, 10.0, 10.5, 10.5, 10.0, 10.0, 10.5, 10.5]
    p = _pricer()
    assert p.plan(names, _attr(dict.fromkeys(names, 0.5), noisy),
                  _attr(dict.fromkeys(names, 0.48), noisy)) == []
    # and where nothing profiles, every block is tried, least error-adding first
    blind = Pricer(SimpleNamespace(plugin=SimpleNamespace(profiles=False)))  # type: ignore[arg-type]
    assert blind.prune_plan(["b", "a"], Candidate("k", [], {}), Candidate("q", [], {}),
                            {"a": 0.1, "b": 0.2}) == ["a", "b"]


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
