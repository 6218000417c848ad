"""perfgate.history: change points snapped to commits, and the centre and band of a commit's rounds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from perfgate.history import centre_and_band, find_changes, snap_to_commits
from perfgate.model import Point, Revision


def points(levels: list[float], rounds: int = 6, noise: float = 0.03, seed: int = 1) -> list[Point]:
    rng = np.random.default_rng(seed)
    out = []
    for k, level in enumerate(levels):
        values = tuple(float(v) for v in level * np.exp(rng.normal(0, noise, rounds)))
        centre, low, high = centre_and_band(values, "p50", 0.95)
        out.append(Point(Revision(f"c{k}", f"{k:040d}", f"commit {k}"), k, values, centre, low, high))
    return out


def test_snap_to_commit_boundaries():
    owners = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert snap_to_commits(3, owners) == 3  # already a boundary
    assert snap_to_commits(4, owners) == 3  # nearer the start of commit 1
    assert snap_to_commits(5, owners) == 6  # nearer its end
    assert snap_to_commits(0, owners) == 0


def test_a_level_shift_is_named_at_its_first_commit():
    series = points([1000, 1000, 1000, 4000, 4000, 4000, 4000])
    changes = find_changes(series, "p50")
    assert [c.revision.label for c in changes] == ["c3"]
    assert 3.5 < changes[0].ratio < 4.5


def test_no_change_point_in_a_flat_series():
    assert find_changes(points([1000] * 8, noise=0.05, seed=3), "p50") == []
    assert find_changes(points([1000]), "p50") == []  # too short to search


def test_two_shifts():
    changes = find_changes(points([1000] * 4 + [2000] * 4 + [500] * 4, noise=0.02), "p50")
    assert [c.position for c in changes] == [4, 8]


def test_band():
    centre, low, high = centre_and_band([100.0, 110.0, 90.0, 105.0], "p95", 0.95)
    assert low < centre < high and 90 < centre < 110
    assert centre_and_band([5.0], "p95", 0.95) == pytest.approx((5.0, 5.0, 5.0))
    centre, low, high = centre_and_band([0.0, 0.01, 0.0], "error_rate", 0.95)  # arithmetic: zeros allowed
    assert math.isclose(centre, 0.01 / 3) and low < 0 < high
