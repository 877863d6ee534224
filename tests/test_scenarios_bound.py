"""The early-stopping bound: the binomial formula, LoadGen's published counts, and a bound
that grows as the sample count shrinks."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from edgekit.scenarios.validity import binomial_cdf, bound_rank, early_stopping, validity


@pytest.mark.parametrize("n, p", [(10, 0.9), (57, 0.5), (300, 0.99)])
def test_the_cdf_is_the_binomial_sum(n, p):
    exact = np.cumsum([math.comb(n, x) * p**x * (1 - p) ** (n - x) for x in range(n + 1)])
    assert binomial_cdf(n, p) == pytest.approx(exact, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("n, pct", [(100, 90), (2048, 90), (1000, 99), (800, 99.9)])
def test_the_rank_is_the_smallest_with_99_percent_confidence(n, pct):
    k = bound_rank(n, pct)
    p = Fraction(str(pct)) / 100
    c = Fraction(99, 100)

    def below(k):  # P(fewer than k samples fall under the true quantile) = P(X <= k - 1)
        return sum(math.comb(n, x) * p**x * (1 - p) ** (n - x) for x in range(k))

    if k is None:
        assert below(n) < c
    else:
        assert below(k) >= c > below(k - 1)
    scipy = pytest.importorskip("scipy.stats")
    if k is not None:
        assert k - 1 == scipy.binom.ppf(0.99, n, pct / 100)


@pytest.mark.parametrize("n, pct, discard", [(2048, 90, 172), (7469, 90, 685),
                                             (1179125, 99, 11539)])
def test_loadgens_published_discard_counts(n, pct, discard):
    # from LoadGen summaries: "Processed at least 64 queries (2048). Would discard 172..."
    assert early_stopping(np.arange(n), pct)["discarded"] == discard


def test_the_bound_grows_as_n_shrinks_and_vanishes_below_the_minimum():
    rng = np.random.default_rng(0)
    pop = rng.lognormal(3, 0.3, 200_000)
    bounds = [early_stopping(np.quantile(pop, (np.arange(n) + 0.5) / n), 99)["bound_ms"]
              for n in (20_000, 5000, 1000, 700)]
    assert bounds == sorted(bounds) and bounds[-1] > bounds[0]
    assert all(b >= np.quantile(pop, 0.99) for b in bounds)
    assert early_stopping(pop[:661], 99)["bound_ms"] is None
    assert early_stopping(pop[:662], 99)["bound_ms"] is not None


def test_validity_names_what_fell_short():
    v = validity(duration_s=3, queries=10, min_duration_s=10, min_queries=256)
    assert v["result"] == "INVALID" and len(v["reasons"]) == 2
    assert validity(duration_s=10, queries=256, min_duration_s=10, min_queries=256)["valid"]
