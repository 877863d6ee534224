"""Tune's prices: what a candidate's blocks cost in time, from the runtime's own profiler
(:mod:`edgekit.attribution`), and the choice among kept candidates.

A prune step gives one float block back to INT8; when the profiler says the block runs no
measurably faster quantized (its saving is below the run's noise), the step is skipped: the
build, its parity and its timing are saved, and the more faithful build is kept. Among
candidates equally fast (within the noise) that all keep accuracy, the most faithful one
(the highest worst-site SQNR) is chosen, not the one with the fewest float nodes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..attribution import Attribution
    from .candidates import Candidate, Tuner

log = logging.getLogger(__name__)


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
            raw = self.t.plugin.profile_capture(c.artifact, feed, iters=max(10, self.t.iters // 2),
                                                warmup=self.t.warmup, threads=self.t.threads)
            self.profiled[c.label] = from_capture(self.t.backend, raw, self.t.deployed,
                                                  self.t.b.taps)
        return self.profiled[c.label]

    def skip_prune(self, block: str, kept: Candidate, int8: Candidate) -> bool:
        """Whether giving ``block`` back to INT8 saves less than the noise: ``kept`` has it
        float, ``int8`` quantized; both are profiled (once each)."""
        a, q = self.of(kept), self.of(int8)
        if a is None or q is None:
            return False
        return self.below_noise(block, a, q)

    def below_noise(self, block: str, float_attr: Attribution, int8_attr: Attribution) -> bool:
        from ..attribution.costbenefit import noise_of

        f, q = float_attr.blocks.get(block), int8_attr.blocks.get(block)
        saving = (f.ms if f else 0.0) - (q.ms if q else 0.0)
        noise = max(noise_of(float_attr.samples_ms), noise_of(int8_attr.samples_ms))
        if saving > noise:
            return False
        self.skipped.append({"block": block, "saving_ms": round(saving, 4),
                             "noise_ms": round(noise, 4)})
        log.info(f"  - block {block} (prune): skipped, quantizing it saves {saving:.3f} ms, "
                 f"below the noise ({noise:.3f} ms)")
        return True

    def report(self) -> dict[str, Any]:
        return {"profiled": list(self.profiled), "skipped_prunes": self.skipped}
