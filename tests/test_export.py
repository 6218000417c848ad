"""``perfgate export`` and the Python API behind it: a run's samples and round metrics."""

import pandas as pd
import pytest

from perfgate.commands.export import rounds_frame, samples_frame
from perfgate.store.local import LocalStore
from tests.minimal_runs import write_run
from tests.support import run_cli


def test_the_python_api_gives_samples_and_the_judges_round_values(tmp_path):
    store = LocalStore(tmp_path / ".perfgate")
    run_id = write_run(store, rounds=3, invalid=(1,))
    samples = samples_frame(store, run_id)
    assert sorted(samples["round"].unique()) == [0, 1, 2] and {"latency_us", "side", "warmup"} <= set(samples)
    rounds = rounds_frame(store, run_id)
    assert sorted(rounds["round"].unique()) == [0, 2]  # the invalid round is not evidence
    assert {"pair", "scenario", "side", "name", "count", "p50", "p95", "error_rate"} <= set(rounds)


@pytest.mark.parametrize("fmt, read", [("csv", pd.read_csv), ("parquet", pd.read_parquet)])
def test_export_writes_both_tables(tmp_path, fmt, read):
    store = LocalStore(tmp_path / ".perfgate")
    run_id = write_run(store, rounds=2)
    result = run_cli("export", "latest", "--format", fmt, "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    samples = read(tmp_path / "out" / f"{run_id}-samples.{fmt}")
    rounds = read(tmp_path / "out" / f"{run_id}-rounds.{fmt}")
    assert len(samples) == len(samples_frame(store, run_id)) and len(rounds) == len(rounds_frame(store, run_id)) > 0


def test_export_of_an_unknown_run_is_one_line(tmp_path):
    write_run(LocalStore(tmp_path / ".perfgate"))
    result = run_cli("export", "nope", cwd=tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 3 and len(lines) == 1 and "run 'nope': not in the store" in lines[0]
