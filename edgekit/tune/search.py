"""``edgekit tune``: find, per attention site, what must stay in float for INT8 to keep parity.

Start from the fully quantized build and run attention parity. Take the first failing site
in graph order and ask where its error comes from:

- introduced by the site (its input still matches PyTorch): keep the site's softmax in
  float, then its attention core (score and value MatMuls with the softmax), then the whole
  site;
- inherited (its input already drifts): widen upstream. Every top-level block's outputs
  are compared against the fp32 build of the same runtime, and the block upstream of the
  site that adds the most error is kept whole in float.

Repeat until every site passes, nothing is left to try or the time budget runs out. Every
candidate is measured with the bench machinery. The profile's default scope and, for RT-DETR,
the default scope with the decoder quantized and the decoder alone quantized (everything
upstream float: its own INT8 error) are measured in the same run for comparison.
The chosen scope is written into a new profile YAML and a bundle. The search is
deterministic: NNCF and ONNX Runtime calibrate on a fixed image set, the model seed is the
bundle's, and the order of choices depends only on the measured errors.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..bundle import load_bundle, refuse_existing
from ..errors import UsageError
from ..families import get_family
from ..scope import FloatScope
from .candidates import Candidate, Tuner
from .pricing import NEAR_TIE, Pricer, choose
from .result import tuned_name, write_result

if TYPE_CHECKING:
    from ..profiles.schema import Profile

log = logging.getLogger(__name__)


def tunable() -> list[str]:
    """The runtimes tune can search on: those whose plug-in quantizes."""
    from ..runtimes import plugins

    return [p.name for p in plugins() if p.quantizes]


def tune(bundle_path: Path, profile: Profile, out: Path, *, time_limit_s: float = 1800,
         iters: int = 50, warmup: int = 5, threads: int | None = None, rounds: int = 5,
         tol_overrides: dict[str, float] | None = None, force: bool = False,
         data: str | Path | None = None, split: str = "val", max_images: int | None = None,
         max_drop: float = 1.0) -> dict[str, Any]:
    """Search the float scope (and, where the CPU has bf16, the float precision) of an INT8
    build of ``bundle_path`` on the profile's runtime. A candidate is kept when the parity
    verdict passes and, with ``data`` (an Ultralytics data.yaml), its mAP50-95 on ``split``
    is at most ``max_drop`` points below the float build's.
    Every candidate is then timed side by side; the fastest kept one (the smallest float
    scope among near ties) is written as a tuned profile and bundle."""
    runtimes = list(profile.runtimes)
    able = tunable()
    if profile.precision.value != "int8" or len(runtimes) != 1 or runtimes[0] not in able:
        raise UsageError(f"tune searches INT8 float scopes on one of {', '.join(able)}: "
                         f"{profile.name} is {profile.precision.value} on {', '.join(runtimes)}")
    backend = runtimes[0]
    b = load_bundle(bundle_path)
    if profile.imgsz != b.manifest.input.imgsz:
        profile = profile.model_copy(update={"imgsz": b.manifest.input.imgsz})
    if not force:  # before the search, not after it
        refuse_existing(out / tuned_name(profile, b))
    ds, calib = None, None
    if data is not None:
        from ..eval.calibration import dataset_calibration
        from ..eval.data import load_dataset

        ds = load_dataset(data, split, max_images=max_images)
        # calibrate as export --data does: the train split, replacing the profile's folder
        calib, _ = dataset_calibration(data, count=profile.calibration.count)
        profile = profile.model_copy(update={"calibration": profile.calibration.model_copy(
            update={"images": None, "count": len(calib)})})
    deadline = time.monotonic() + time_limit_s
    work = out / f".tune-{b.path.name}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        t = Tuner(b, profile, work, backend, iters=iters, warmup=warmup, threads=threads,
                  tol_overrides=tol_overrides, data=ds, max_drop=max_drop, calibration=calib)
        fp32 = t.fp32()
        assert fp32.p50_ms is not None
        base = fp32.p50_ms
        acc = "" if fp32.map50_95 is None else f", mAP50-95 {fp32.map50_95:.2f}"
        log.info(f"tune ({backend}): fp32 p50 {fp32.p50_ms:.2f} ms{acc}; searching float "
                 f"scopes (deterministic, bounded by {time_limit_s:.0f} s)")
        # where the CPU runs bf16, the float build at bf16 is a candidate and a baseline
        bf16 = t.float_at("bf16", base) if bf16_here(t.plugin) else None
        kinds = {x.name: x.kind for x in b.taps}
        attention_sites = [x.name for x in b.taps if x.kind != "queries"]
        default = list(profile.calibration.float_scope)
        # what every candidate keeps float (edgekit/scope.py: top-k, the score sigmoid)
        base_items = list(FloatScope.of(profile.calibration).always().items)
        decoder_blocks = t.decoder_blocks() if "decoder" in default else set()
        cur = t.evaluate("full int8", base_items, {}, [], base)
        # the reference scopes first, so the budget cannot squeeze them out
        refs = [t.evaluate("profile default scope", default,
                           dict(profile.calibration.float_sites),
                           list(profile.calibration.float_blocks), base)]
        if decoder_blocks:
            no_decoder = [i for i in default if i not in ("decoder", "attention")]
            refs.append(t.evaluate("default, decoder quantized", no_decoder, {}, [],
                                   base))
            # the decoder's own INT8 error, with nothing upstream of it quantized
            upstream = [b for b in t.blocks if b not in decoder_blocks]
            refs.append(t.evaluate("only the decoder quantized", no_decoder, {}, upstream,
                                   base))
        tried = [cur, *refs]
        sites: dict[str, str] = {}
        blocks_kept: list[str] = []
        step: dict[str, int] = {}  # per site: how many blocks the next upstream widening adds (doubles)
        while not cur.passed and time.monotonic() < deadline:
            failing = [s for s in attention_sites if not cur.site_passed.get(s, True)]
            site = failing[0] if failing else "output0"
            kind = kinds.get(site, "output")
            if site != "output0" and not t.inherited(cur, site, kind) \
                    and sites.get(site) != "all":
                # bisect inside the site: softmax, then the attention core, then all of it
                sites[site] = {None: "softmax", "softmax": "core"}.get(sites.get(site), "all")
                label = f"+ {site}: {sites[site]}"
            else:
                n = step.get(site, 1)
                new = t.upstream_blocks(cur, site, blocks_kept, n)
                if not new:
                    log.info(f"  nothing upstream of {site} is left to keep in float")
                    break
                step[site] = 2 * n
                blocks_kept = blocks_kept + new
                label = f"+ {', '.join(new)} (upstream of {site})"
            cur = t.evaluate(label, base_items, sites, blocks_kept, base)
            tried.append(cur)
        pricer = Pricer(t)
        if cur.passed and blocks_kept:
            # prune: try giving float blocks back to INT8, priced by the profiler (largest
            # saving first, while the savings left beat the noise; edgekit/tune/pricing.py)
            for blk in pricer.prune_plan(blocks_kept, cur, tried[0], tried[0].block_error):
                if time.monotonic() >= deadline:
                    break
                trial = [x for x in blocks_kept if x != blk]
                cand = t.evaluate(f"- block {blk} (prune)", base_items, sites, trial,
                                  base)
                tried.append(cand)
                if cand.passed:
                    blocks_kept, cur = trial, cand
        kept = [c for c in tried if c.passed]
        if bf16 is not None and kept:
            # the best kept INT8 scope again, its float parts at bf16 (one build, whatever
            # the budget left: the float precision is half of the question on this CPU)
            first = min(kept, key=lambda c: c.p50_ms or 1e9)
            tried.append(t.evaluate(f"{first.label}, float parts at bf16", first.float_scope,
                                    first.float_sites, first.float_blocks, base,
                                    float_precision="bf16"))
        if bf16 is not None:
            tried.append(bf16)
        side = t.side_by_side(fp32, tried, rounds, bf16=bf16)
        passing = [c for c in tried if c.passed]
        criterion = ("the parity verdict passing"
                     + (f" and mAP50-95 within {max_drop:g} point(s) of the float build's"
                        if ds is not None else ""))
        if passing:
            def p50(c: Candidate) -> float:
                return side.get(c.label, {}).get("p50", c.p50_ms or 1e9)

            chosen, why = choose(passing, p50, NEAR_TIE)
            why += f" with {criterion}"
        else:
            chosen = least_failing(tried, by_map=ds is not None)
            why = (f"no configuration had {criterion}; this one fails the fewest sites, with "
                   "the best worst-site cosine among those")
        report = {"schema": "edgekit.tune/3", "bundle": str(b.path), "profile": profile.name,
                  "backend": backend, "fp32": fp32.row(),
                  "tolerance_overrides": {k: v for k, v in (tol_overrides or {}).items()
                                          if v is not None},
                  "bf16": bf16.label if bf16 is not None else None,
                  "accuracy": None if ds is None else {
                      "data": str(ds.yaml), "split": ds.split, "images": len(ds.samples),
                      "calibration": f"{len(calib or [])} images of the train split",
                      "max_drop": max_drop, "fp32_map50_95": fp32.map50_95,
                      "reference": "the float build on this runtime, at f32"},
                  "candidates": [c.row() for c in tried],
                  "decoder_sites": [x.name for x in b.taps
                                    if get_family(b.family).is_decoder_site(x.name)
                                    and x.kind != "queries"],
                  "side_by_side": side, "pricing": pricer.report(),
                  "chosen": chosen.label, "why": why, "passed": chosen.passed,
                  "time_limit_s": time_limit_s,
                  "search_s": round(time_limit_s - (deadline - time.monotonic()), 1)}
        report["outputs"] = write_result(b, profile, chosen, report, out, force=force)
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bf16_here(plugin: Any) -> bool:
    """The runtime runs float parts at bf16, and this CPU has bf16 (AVX512_BF16 or AMX)."""
    from ..precision import cpu_support

    return "bf16" in plugin.float_precisions and cpu_support()["bf16"]


def least_failing(tried: list[Candidate], by_map: bool = False) -> Candidate:
    """The candidate with the smallest mAP drop (``by_map``), else the one failing the fewest
    sites with the best worst-site cosine among those."""
    if by_map:
        return min(tried, key=lambda c: c.map_drop if c.map_drop is not None else 1e9)
    return min(tried, key=lambda c: (len(c.failing),
                                     -(c.worst_cosine if c.worst_cosine is not None else -2)))
