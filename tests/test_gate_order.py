"""A gate's duet rounds alternate which side starts first across every pair it measures."""

from __future__ import annotations

from perfgate.gate import GateOptions, run_gate
from perfgate.model import State
from perfgate.store import LocalStore
from tests.stored_runs import CONFIG, backend_round, build_repo

BUDGET = CONFIG.replace("count = 3\nmax = 3", "count = 3\nmax = 9")


def noisy_pairs(state, scenario, spec):
    """The gate's round runner: a ratio swinging by pair, an A/A that stays inconclusive."""
    return backend_round(state, spec, ratio=(0.6, 1.5, 1.1)[spec.pair % 3])


def test_confirmation_pairs_keep_alternating_the_first_side(tmp_path):
    """Planned and confirmation pairs come from separate plans; the order must not restart."""
    config, _, _ = build_repo(tmp_path / "repo", BUDGET)
    options = GateOptions(baseline="HEAD~1", candidate="HEAD", reuse=False)
    for _ in range(8):  # each gate draws its first side at random
        result = run_gate(config, tmp_path / "repo", options, round_runner=noisy_pairs)
        assert result.verdict.state is State.INCONCLUSIVE
        rounds = LocalStore(tmp_path / "repo" / ".perfgate").rounds(result.run_id)
        assert len(rounds) > 3  # confirmation pairs were bought
        firsts = [r.sides[0] for r in sorted(rounds, key=lambda r: r.pair)]
        assert all(a != b for a, b in zip(firsts, firsts[1:])), firsts
