from __future__ import annotations

import pytest

from tests.report.report_synth import HOSTILE, SynthSpec, build_run


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """A stored duet run of 8 rounds with fault, storm, chaos windows, an invalid and two
    confirmation rounds; a regression on one endpoint."""
    root = tmp_path_factory.mktemp("small")
    store, run_id, verdict = build_run(root / "store", SynthSpec(per_side=2000))
    return store, run_id, verdict, root


@pytest.fixture(scope="session")
def quiet_run(tmp_path_factory):
    """A passing run of 3 rounds with one request name and one metric: three plots, cheap to render, for
    the tests of what is written where (not of what the report shows)."""
    root = tmp_path_factory.mktemp("quiet")
    spec = SynthSpec(
        per_side=1000,
        planned_pairs=3,
        confirmation_pairs=0,
        invalid_round=None,
        regressed={},
        names=("login",),
        metrics=("p50",),
    )
    store, run_id, verdict = build_run(root / "store", spec)
    return store, run_id, verdict, root


@pytest.fixture(scope="session")
def hostile_run(tmp_path_factory):
    """Every outside string carries markup: request names, commit subject and author,
    error messages, scenario name."""
    root = tmp_path_factory.mktemp("hostile")
    spec = SynthSpec(
        per_side=1500,
        names=("login", HOSTILE, "_private$x$"),
        regressed={HOSTILE: 1.3},
        subject=HOSTILE,
        author=HOSTILE,
        error_text=HOSTILE,
        scenario="chat" + HOSTILE,
        extra=HOSTILE,
    )
    store, run_id, verdict = build_run(root / "store", spec)
    return store, run_id, verdict, root
