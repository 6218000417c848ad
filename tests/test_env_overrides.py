"""PERFGATE_* environment variables set the common gate options; the command line wins."""

import pytest

from perfgate.commands import build_parser
from tests.support import run_cli


def parse(*argv: str):
    return build_parser(argv).parse_args(argv)


def test_the_environment_sets_what_the_command_line_does_not(monkeypatch):
    monkeypatch.setenv("PERFGATE_ROUNDS", "8")
    monkeypatch.setenv("PERFGATE_MARGIN", "0.1")
    monkeypatch.setenv("PERFGATE_INCONCLUSIVE", "fail")
    args = parse("ci")
    assert (args.rounds, args.margin, args.inconclusive) == (8, 0.1, "fail")
    assert parse("run", "--rounds", "4").rounds == 4  # a flag still wins


@pytest.mark.parametrize(
    "name, value, needle",
    [
        ("PERFGATE_ROUNDS", "many", "$PERFGATE_ROUNDS: 'many' is not a valid --rounds"),
        ("PERFGATE_INCONCLUSIVE", "maybe", "$PERFGATE_INCONCLUSIVE: 'maybe' is not one of fail, pass, warn"),
        ("PERFGATE_MARGIN", "nan", "--margin: must be a number between 0 and 10, not nan"),
    ],
)
def test_a_bad_variable_is_one_line_naming_it(tmp_path, name, value, needle):
    result = run_cli("ci", cwd=tmp_path, env={name: value})  # ci checks its numbers before anything else
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 3 and len(lines) == 1 and needle in lines[0], result.stderr
