"""Tune's prices: what a candidate's blocks cost in time, from the runtime's own profiler
(:mod:`edgekit.attribution`), and the choice among kept candidates.

A prune step gives one float block back to INT8. The profiler prices each step: what the
block saves quantized (its time in the kept build less its time in the fully quantized one).
Steps are tried largest saving first; one that saves nothing is skipped, and so is every step
once the savings still to take add up to less than the noise (the standard error of the
difference of the two profiled runs' medians) or than the near-tie band (a build faster by
less than ``NEAR_TIE`` loses the choice to a more faithful one anyway): a build, its parity
and its timing are saved, and the more faithful build is kept. Savings are summed, not
judged one by one, because thirty blocks that each save a tenth of the noise save three
times it together. Among candidates equally fast (within the noise) that all keep accuracy,
the most faithful one (the highest worst-site SQNR) is chosen, not the one with the fewest
float nodes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..attribution import Attribution
    from .candidates import Candidate, Tuner

log = logging.getLogger(__name__)
#: passing scopes whose p50 is within this share of the fastest count as tied; the most
#: faithful among them (highest worst-site SQNR) is chosen
NEAR_TIE = 0.03


def faithfulness(c: Candidate) -> tuple[int, float]:
    """How close a build stays to PyTorch: its worst site's median SQNR (dB) where the
    verdict rated sites by SQNR, else its worst-site cosine; higher is better."""
    m = c.worst_metric or {}
    if "SQNR" in str(m.get("name", "")) and m.get("value") is not None:
        return 1, float(m["value"])
    return 0, c.worst_cosine if c.worst_cosine is not None else -2.0


def choose(passing: Sequence[Candidate], p50: Callable[[Candidate], float],
           near_tie: float) -> tuple[Candidate, str]:
    """The chosen candidate among ``passing`` (each keeps parity and accuracy): the most
    faithful of those within ``near_tie`` of the fastest, then the fewest float nodes."""
    fastest = min(passing, key=p50)
    near = [c for c in passing if p50(c) <= p50(fastest) * (1 + near_tie)]
    chosen = max(near, key=lambda c: (faithfulness(c), -c.float_size(), -p50(c)))
    return chosen, (f"the most faithful (highest worst-site SQNR) of the {len(near)} within "
                    f"{near_tie:.0%} of the fastest (side-by-side p50), then the fewest float "
                    f"nodes, of {len(passing)} configurations")


class Pricer:
    """Profiles candidates on the tuner's runtime (where its plug-in has a profiler) and
    prices giving a block back to INT8."""

    def __init__(self, tuner: Tuner) -> None:
        self.t = tuner
        self.profiled: dict[str, Attribution] = {}
        self.skipped: list[dict[str, Any]] = []

    @property
    def able(self) -> bool:
        return bool(self.t.plugin.profiles)

    def of(self, c: Candidate) -> Attribution | None:
        if not self.able or c.artifact is None:
            return None
        if c.label not in self.profiled:
            from ..attribution import from_capture

            feed = {"images": self.t.inputs[0][:1]}  # the first reference sample
            raw = self.t.plugin.profile_capture(c.artifact, feed, iters=max(20, self.t.iters),
                                                warmup=self.t.warmup, threads=self.t.threads)
            self.profiled[c.label] = from_capture(self.t.backend, raw, self.t.deployed,
                                                  self.t.b.taps)
        return self.profiled[c.label]

    def prune_plan(self, blocks: Sequence[str], kept: Candidate, int8: Candidate,
                   error: dict[str, float]) -> list[str]:
        """The prune steps worth a build, in the order to try them. ``kept`` has ``blocks``
        float, ``int8`` has them quantized; ``error`` is what each block adds quantized.
        Without a profiler: every block, least error-adding first."""
        by_error = sorted(blocks, key=lambda b: error.get(b, 0.0))
        a, q = self.of(kept), self.of(int8)
        if a is None or q is None:
            return by_error
        return self.plan(by_error, a, q)

    def plan(self, blocks: Sequence[str], float_attr: Attribution,
             int8_attr: Attribution) -> list[str]:
        """``blocks`` (ties in this order) by saving, largest first, while the savings left
        to take add up to more than the noise and the near-tie band; the rest are recorded
        as skipped."""
        from ..attribution.costbenefit import noise_of

        def ms(a: Attribution, b: str) -> float:
            g = a.blocks.get(b)
            return g.ms if g else 0.0

        saving = {b: ms(float_attr, b) - ms(int8_attr, b) for b in blocks}
        noise = noise_of(float_attr.samples_ms, int8_attr.samples_ms)
        band = NEAR_TIE * float_attr.p50_ms
        order = sorted(blocks, key=lambda b: -saving[b])  # stable: ties keep the error order
        left = sum(v for v in saving.values() if v > 0)
        plan: list[str] = []
        for b in order:
            if saving[b] > 0 and left > max(noise, band):
                plan.append(b)
            else:
                why = ("saves nothing" if saving[b] <= 0 else
                       "the savings left are below the noise" if noise >= band else
                       f"the savings left are within the {NEAR_TIE:.0%} tie band")
                self.skipped.append({"block": b, "saving_ms": round(saving[b], 4),
                                     "noise_ms": round(noise, 4), "band_ms": round(band, 4),
                                     "left_ms": round(left, 4), "why": why})
                log.info(f"  - block {b} (prune): skipped, quantizing it saves "
                         f"{saving[b]:.3f} ms; {why} ({left:.3f} ms left, noise "
                         f"{noise:.3f} ms, tie band {band:.3f} ms)")
            left -= max(saving[b], 0.0)
        return plan

    def report(self) -> dict[str, Any]:
        return {"profiled": list(self.profiled), "skipped_prunes": self.skipped}
