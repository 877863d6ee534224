"""The cost/benefit of quantizing each attention site: its milliseconds in a float build and
in an INT8 build (both attributed by the runtime's profiler), what quantizing costs in error
(parity's median SQNR and median error relative to the residual stream), and the border
cost (the reorders and converts at the site's edge) that its float island adds."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .mapper import NO_SITE, Attribution


@dataclass(frozen=True)
class SiteCost:
    site: str
    float_ms: float
    int8_ms: float
    border_ms: float  # in the INT8 build: the conversions at the site's edge
    float_share: float  # of the site's time in the INT8 build, spent in float
    sqnr_db_median: float | None
    stream_rel_median: float | None
    passed: bool | None  # the parity verdict on the site, in the INT8 build

    @property
    def saving_ms(self) -> float:
        """What the INT8 build saves on the site, its border included."""
        return self.float_ms - self.int8_ms


@dataclass
class CostBenefit:
    backend: str
    rows: list[SiteCost]
    float_p50_ms: float
    int8_p50_ms: float
    #: what a saving must beat to count (ms): the standard error of the difference of the
    #: two runs' medians
    noise_ms: float

    def worth_quantizing(self, row: SiteCost) -> bool:
        """Whether the measured saving is above the noise."""
        return row.saving_ms > self.noise_ms

    def to_json(self) -> dict[str, Any]:
        return {"backend": self.backend, "float_p50_ms": round(self.float_p50_ms, 4),
                "int8_p50_ms": round(self.int8_p50_ms, 4), "noise_ms": round(self.noise_ms, 4),
                "sites": [{**asdict(r), "saving_ms": round(r.saving_ms, 4),
                           "worth_quantizing": self.worth_quantizing(r)} for r in self.rows]}

    def markdown(self) -> str:
        lines = ["| site | float ms | int8 ms | saving ms | border ms | float share | "
                 "median SQNR dB | median stream err | parity |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in self.rows:
            sq = "-" if r.sqnr_db_median is None else f"{r.sqnr_db_median:.1f}"
            st = "-" if r.stream_rel_median is None else f"{r.stream_rel_median:.3f}"
            ok = {None: "-", True: "pass", False: "fail"}[r.passed]
            lines.append(f"| {r.site} | {r.float_ms:.3f} | {r.int8_ms:.3f} | "
                         f"{r.saving_ms:+.3f} | {r.border_ms:.3f} | {r.float_share:.0%} | "
                         f"{sq} | {st} | {ok} |")
        return "\n".join(lines)


def noise_of(*runs: list[float]) -> float:
    """The noise a saving measured between ``runs`` (latencies, ms) must beat: the standard
    error of the difference of their medians, each from its interquartile range
    (1.2533 σ / √n with σ = IQR / 1.349); one run: the standard error of its median. A
    run of fewer than 4 latencies adds nothing."""
    total = 0.0
    for samples in runs:
        s = sorted(samples)
        if len(s) < 4:
            continue
        iqr = s[(3 * len(s)) // 4] - s[len(s) // 4]
        total += (1.2533 * iqr / 1.349) ** 2 / len(s)
    return total ** 0.5


def cost_benefit(float_attr: Attribution, int8_attr: Attribution,
                 parity: dict[str, Any] | None = None,
                 samples_ms: list[float] | None = None) -> CostBenefit:
    """Join the two attributions and parity's per-site result for the INT8 build (a
    backend entry of a parity report: its ``layers``) into one row per attention site.
    ``samples_ms``: the INT8 run's latencies, when not its attribution's own; with the float
    run's, they set the noise a saving must beat."""
    layers = {la["name"]: la for la in (parity or {}).get("layers", [])}
    rows = []
    for site in float_attr.sites:
        if site == NO_SITE:
            continue
        f, q = float_attr.sites[site], int8_attr.sites.get(site)
        m = (layers.get(site) or {}).get("metrics") or {}
        rows.append(SiteCost(site, f.ms, q.ms if q else 0.0, q.border_ms if q else 0.0,
                             q.float_share if q else 0.0, m.get("sqnr_db_median"),
                             m.get("stream_rel_median"),
                             layers[site]["passed"] if site in layers else None))
    return CostBenefit(int8_attr.backend, rows, float_attr.p50_ms, int8_attr.p50_ms,
                       noise_of(float_attr.samples_ms, samples_ms or int8_attr.samples_ms))
