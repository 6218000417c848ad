import numpy as np
import pytest

from perfgate.judge import change_points


def test_finds_a_planted_step():
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(100, 2, 30), rng.normal(110, 2, 25)]
    assert change_points(x, permutations=100) == [30]


def test_two_steps():
    rng = np.random.default_rng(1)
    x = np.r_[rng.normal(100, 2, 25), rng.normal(112, 2, 20), rng.normal(104, 2, 25)]
    cps = change_points(x, permutations=100)
    assert len(cps) == 2 and abs(cps[0] - 25) <= 1 and abs(cps[1] - 45) <= 1


@pytest.mark.parametrize("seed", range(5))
def test_nothing_in_flat_noise(seed):
    x = np.random.default_rng(seed).lognormal(0, 0.05, 60)
    assert change_points(x, permutations=100, seed=seed) == []


def test_short_and_bad_series():
    assert change_points(np.array([1.0, 2.0, 3.0])) == []
    with pytest.raises(ValueError):
        change_points(np.array([1.0, np.nan, 3.0, 4.0]))
