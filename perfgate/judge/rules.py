"""The judge's fixed rules, shared by the statistics (:mod:`perfgate.judge.compare`), the
limits and the verdict's ranking (:mod:`perfgate.judge.verdicts`)."""

from __future__ import annotations

from perfgate.model import State

#: Fewer pairs than this never pass (nor fail): the verdict is inconclusive.
MIN_PAIRS = 3
#: Smallest error-rate increase (absolute fraction of requests) that counts as a regression.
ERROR_RATE_FLOOR = 0.005
#: Metrics where a larger value is better.
HIGHER_IS_BETTER = frozenset({"throughput"})
#: How metric states rank in a verdict: regressions first.
STATE_ORDER = {State.REGRESSION: 0, State.INCONCLUSIVE: 1, State.PASS: 2, State.IMPROVEMENT: 3}
