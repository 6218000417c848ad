import random

from perfgate.model import Design, Side
from perfgate.plan import plan_pairs


def test_duet_runs_both_sides_and_alternates_who_starts():
    specs = plan_pairs("chat", Design.DUET, 6, rng=random.Random(1))
    assert [s.index for s in specs] == list(range(6))
    assert [s.pair for s in specs] == list(range(6))
    assert all(set(s.sides) == {Side.BASELINE, Side.CANDIDATE} for s in specs)
    firsts = [s.sides[0] for s in specs]
    assert all(a != b for a, b in zip(firsts, firsts[1:]))


def test_interleaved_pairs_hold_one_round_per_side_in_random_order():
    specs = plan_pairs("chat", Design.INTERLEAVED, 40, first_index=10, first_pair=3, rng=random.Random(2))
    assert [s.index for s in specs] == list(range(10, 90))
    orders = set()
    for pair in range(3, 43):
        rounds = [s for s in specs if s.pair == pair]
        assert sorted(r.sides[0] for r in rounds) == [Side.BASELINE, Side.CANDIDATE]
        orders.add(rounds[0].sides[0])
    assert orders == {Side.BASELINE, Side.CANDIDATE}


def test_confirmation_rounds_are_marked():
    specs = plan_pairs("chat", Design.DUET, 2, rng=random.Random(0), confirmation=True)
    assert all(s.confirmation for s in specs)
