"""RT-DETR query alignment. Runtimes may order near-equal top-k encoder scores
differently; the decoder then processes the same queries in another order. Matching the
rows of the decoder's query input gives a permutation that aligns every per-query tap."""

from __future__ import annotations

import numpy as np


def match_rows(ref: np.ndarray, out: np.ndarray, rel_tol: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one matching of rows (n, d) by L2 distance.

    Returns ``perm`` (for each reference row, the matched output row, or -1) and the
    matched distances relative to the reference's typical row norm. A reference row
    whose nearest free output row is farther than ``rel_tol`` is unmatched: the runtime
    selected a different query.
    """
    ref = np.asarray(ref, np.float64)
    out = np.asarray(out, np.float64)
    n = ref.shape[0]
    d2 = (np.square(ref).sum(1)[:, None] + np.square(out).sum(1)[None, :] - 2 * ref @ out.T)
    d = np.sqrt(np.maximum(d2, 0))
    scale = float(np.median(np.linalg.norm(ref, axis=1))) or 1.0
    order = np.argsort(d, axis=None)
    perm = -np.ones(n, dtype=np.int64)
    used = np.zeros(out.shape[0], dtype=bool)
    dist = np.full(n, np.inf)
    left = n
    for flat in order:
        i, j = divmod(int(flat), out.shape[0])
        if perm[i] >= 0 or used[j]:
            continue
        if d[i, j] / scale > rel_tol:
            break
        perm[i], used[j], dist[i] = j, True, d[i, j] / scale
        left -= 1
        if not left:
            break
    return perm, dist


def apply(arr: np.ndarray, perm: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Reorder ``arr`` along ``axis`` so row i is the match of reference row i.

    Returns the reordered array and a mask of matched rows."""
    valid = perm >= 0
    idx = np.where(valid, perm, 0)
    return np.take(arr, idx, axis=axis), valid
