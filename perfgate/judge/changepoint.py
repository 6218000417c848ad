"""Change points in a per-commit history: E-divisive means (Matteson & James, 2014).

Hierarchical: find the split (tau, kappa) of a segment that maximises the
energy divergence between x[start:tau] and x[tau:kappa]; keep the best split
over all current segments if a permutation test says it is significant
(observations shuffled within each current segment), then repeat. The energy
statistic uses |x - y| ** exponent with exponent 1, which detects any change of
distribution, not only of the mean. Pure numpy, O(n^2) per segment search via
2-D prefix sums of the distance matrix.
"""

from __future__ import annotations

import numpy as np


def _best_split(x: np.ndarray, min_size: int) -> tuple[float, int]:
    """Largest scaled divergence over splits of ``x``, and the tau (relative) reaching it."""
    n = x.size
    if n < 2 * min_size:
        return -np.inf, -1
    d = np.abs(x[:, None] - x[None, :])
    c = np.zeros((n + 1, n + 1))
    c[1:, 1:] = d.cumsum(0).cumsum(1)

    def block(r0, r1, c0, c1):
        return c[r1, c1] - c[r0, c1] - c[r1, c0] + c[r0, c0]

    tau, kappa = np.meshgrid(np.arange(min_size, n - min_size + 1), np.arange(2 * min_size, n + 1), indexing="ij")
    valid = kappa - tau >= min_size
    tau, kappa = tau[valid], kappa[valid]
    m, k = tau.astype(float), (kappa - tau).astype(float)
    between = block(0, tau, tau, kappa)
    within_left = block(0, tau, 0, tau) / 2.0
    within_right = block(tau, kappa, tau, kappa) / 2.0
    divergence = 2.0 * between / (m * k) - within_left / (m * (m - 1) / 2) - within_right / (k * (k - 1) / 2)
    q = m * k / (m + k) * divergence
    best = int(np.argmax(q))
    return float(q[best]), int(tau[best])


def _best_over_segments(x: np.ndarray, cuts: list[int], min_size: int) -> tuple[float, int]:
    best_q, best_tau = -np.inf, -1
    for start, end in zip(cuts[:-1], cuts[1:]):
        q, tau = _best_split(x[start:end], min_size)
        if q > best_q:
            best_q, best_tau = q, start + tau
    return best_q, best_tau


def change_points(series: np.ndarray, *, min_size: int = 2, alpha: float = 0.01, permutations: int = 200,
                  seed: int = 0) -> list[int]:
    """Indices where a level shift begins (``series[i]`` is the first value after the change).

    ``alpha`` is the significance level of each permutation test; the search
    stops at the first split that is not significant.
    """
    x = np.asarray(series, dtype=float)
    if not np.isfinite(x).all():
        raise ValueError("change_points: the series has NaN or infinite values; drop them first")
    min_size = max(int(min_size), 2)
    rng = np.random.default_rng(seed)
    cuts = [0, x.size]
    while True:
        observed, tau = _best_over_segments(x, cuts, min_size)
        if tau < 0:
            break
        exceed = 0
        for _ in range(permutations):
            shuffled = x.copy()
            for start, end in zip(cuts[:-1], cuts[1:]):
                shuffled[start:end] = rng.permutation(shuffled[start:end])
            q, _ = _best_over_segments(shuffled, cuts, min_size)
            exceed += q >= observed
        if (exceed + 1) / (permutations + 1) > alpha:
            break
        cuts = sorted([*cuts, tau])
    return cuts[1:-1]
