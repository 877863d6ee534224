"""Whether a run counts, as MLPerf LoadGen decides it: a minimum duration, a minimum query
count, and the early-stopping bound of a tail percentile.

The bound: with N latencies, the true p-quantile q lies below the k-th smallest sample with
probability P(Binomial(N, p) <= k - 1) (fewer than k samples fall below q). The bound is the
k-th smallest sample for the smallest k where that probability reaches the confidence (99%,
LoadGen's). LoadGen reports one sample above that k (its "would discard" count is n - k - 1:
2048 samples, p90: 172), and so does edgekit, to agree with it. Fewer samples need a
larger k relative to N, so the bound grows as N shrinks; with too few samples no k works,
and there is no bound (the run cannot support its tail)."""

from __future__ import annotations

from typing import Any

import numpy as np

CONFIDENCE = 0.99


def binomial_cdf(n: int, p: float) -> np.ndarray:
    """P(Binomial(n, p) <= x) for x = 0..n, summed in log space (no overflow at large n)."""
    x = np.arange(n + 1, dtype=np.float64)
    j = np.arange(1, n + 1, dtype=np.float64)
    log_comb = np.concatenate([[0.0], np.cumsum(np.log((n - j + 1) / j))])
    with np.errstate(divide="ignore"):
        log_pmf = log_comb + x * np.log(p) + (n - x) * np.log1p(-p)
    return np.minimum(np.cumsum(np.exp(log_pmf)), 1.0)


def bound_rank(n: int, percentile: float, confidence: float = CONFIDENCE) -> int | None:
    """The 1-based rank k of the sample that bounds the ``percentile`` (0-100) at
    ``confidence``; None when n samples are too few. LoadGen's "would discard" count is
    n - k."""
    if n < 1:
        return None
    cdf = binomial_cdf(n, percentile / 100.0)
    hits = np.nonzero(cdf >= confidence)[0]
    if not len(hits) or hits[0] > n - 1:  # the rank would be past the largest sample
        return None
    return int(hits[0]) + 1


def min_samples(percentile: float, confidence: float = CONFIDENCE) -> int:
    """The fewest samples that give a bound at LoadGen's rank (the binomial rank below the
    largest sample)."""
    n = int(np.ceil(np.log(1 - confidence) / np.log(percentile / 100.0)))
    while (k := bound_rank(n, percentile, confidence)) is None or k >= n:
        n += 1
    return n


def early_stopping(latencies_ms: list[float] | np.ndarray, percentile: float,
                   confidence: float = CONFIDENCE) -> dict[str, Any]:
    """The percentile as measured and its early-stopping bound (None: too few samples),
    at LoadGen's rank: one above the binomial rank."""
    x = np.sort(np.asarray(latencies_ms, dtype=np.float64))
    k = bound_rank(len(x), percentile, confidence)
    k = k + 1 if k is not None and k < len(x) else None
    return {"percentile": percentile, "confidence": confidence, "n": int(len(x)),
            "measured_ms": float(np.percentile(x, percentile)) if len(x) else None,
            "bound_ms": float(x[k - 1]) if k is not None else None,
            "discarded": len(x) - k if k is not None else None,
            "min_samples": min_samples(percentile, confidence)}


def validity(*, duration_s: float, queries: int, min_duration_s: float, min_queries: int,
             interrupted: bool = False) -> dict[str, Any]:
    """VALID when the run lasted at least ``min_duration_s`` and offered at least
    ``min_queries``, and was not interrupted; the reasons say what fell short."""
    reasons = []
    if interrupted:
        reasons.append("interrupted")
    if duration_s < min_duration_s:
        reasons.append(f"ran {duration_s:.2f} s < the minimum {min_duration_s:g} s")
    if queries < min_queries:
        reasons.append(f"{queries} queries < the minimum {min_queries}")
    return {"valid": not reasons, "result": "VALID" if not reasons else "INVALID",
            "reasons": reasons, "duration_s": duration_s, "queries": queries,
            "min_duration_s": min_duration_s, "min_queries": min_queries,
            "interrupted": interrupted}
