import numpy as np
import pytest

from perfgate.judge import change_points


def test_finds_a_planted_step():
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(100, 2, 30), rng.normal(110, 2, 25)]
    assert change_points(x) == [30]


def test_two_steps():
    rng = np.random.default_rng(1)
    x = np.r_[rng.normal(100, 2, 25), rng.normal(112, 2, 20), rng.normal(104, 2, 25)]
    cps = change_points(x)
    assert len(cps) == 2 and abs(cps[0] - 25) <= 1 and abs(cps[1] - 45) <= 1


@pytest.mark.parametrize("seed", range(5))
def test_nothing_in_flat_noise(seed):
    x = np.random.default_rng(seed).lognormal(0, 0.05, 60)
    assert change_points(x) == []


def test_scale_free():
    """The median-heuristic bandwidth: the same shift relative to the noise is found at any scale."""
    rng = np.random.default_rng(2)
    x = np.r_[rng.normal(0, 1, 20), rng.normal(4, 1, 20)]
    assert change_points(x) == change_points(1000 * x + 5) == change_points(0.001 * x) == [20]


def test_a_higher_penalty_finds_fewer():
    rng = np.random.default_rng(3)
    x = np.r_[rng.normal(100, 2, 25), rng.normal(103, 2, 25), rng.normal(112, 2, 25)]
    assert len(change_points(x, penalty=50.0)) <= len(change_points(x)) <= len(change_points(x, penalty=0.2))
    assert len(change_points(x, penalty=0.2)) > len(change_points(x, penalty=50.0))


def test_short_constant_and_bad_series():
    assert change_points(np.array([1.0, 2.0, 3.0])) == []
    assert change_points(np.full(20, 7.0)) == []
    with pytest.raises(ValueError):
        change_points(np.array([1.0, np.nan, 3.0, 4.0]))
    with pytest.raises(ValueError):
        change_points(np.arange(10.0), penalty=0)
