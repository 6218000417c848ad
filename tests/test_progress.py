"""Progress in a CI log (no TTY): one line per round, never a silent bar."""

import io
import re

from rich.console import Console

from perfgate.commands._common import RichProgress
from perfgate.model import Design, RoundRecord, RoundSpec, Side

SIDES = (Side.CANDIDATE, Side.BASELINE)


def test_without_a_terminal_each_round_is_one_line_with_requests_elapsed_and_eta():
    out = io.StringIO()
    errors = io.StringIO()
    log = Console(file=out, force_terminal=False, width=80)
    with RichProgress(Console(file=errors, force_terminal=False, width=80), log) as progress:
        progress.planned(2)
        for index in range(2):
            progress.round_started(RoundSpec(index, "chat", SIDES, index))
            record = RoundRecord("r", index, "chat", Design.DUET, SIDES, index, 0, 0, 1)
            progress.round_finished(record, 2331)
        progress.round_finished(RoundRecord("r", 2, "chat", Design.DUET, SIDES, 2, 0, 0, 1, confirmation=True), 7)
    assert errors.getvalue() == ""  # standard error keeps only warnings and errors
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines
    assert re.fullmatch(
        r"round 1/2 · chat pair 0 · candidate\+baseline · 2,331 requests · \d+:\d\d · ETA \d+:\d\d",
        lines[0],
    )
    assert lines[2].startswith("confirmation round 3/3 · chat pair 2") and "7 requests" in lines[2]
    assert len(lines[0]) <= 80  # a CI log's width; a line is never wrapped


def test_on_a_terminal_the_bar_prints_no_round_lines():
    out = io.StringIO()
    with RichProgress(Console(file=out, force_terminal=True, width=80), Console(file=out)) as progress:
        progress.planned(1)
        progress.round_started(RoundSpec(0, "chat", SIDES, 0))
        progress.round_finished(RoundRecord("r", 0, "chat", Design.DUET, SIDES, 0, 0, 0, 1), 10)
    assert "round 1/1" not in out.getvalue()


def test_quiet_prints_no_progress(capsys):
    with RichProgress(Console(file=io.StringIO(), force_terminal=False), quiet=True) as progress:
        progress.planned(1)
        progress.round_started(RoundSpec(0, "chat", SIDES, 0))
        progress.message("cleaned up after a killed gate")
        progress.round_finished(RoundRecord("r", 0, "chat", Design.DUET, SIDES, 0, 0, 0, 1), 10)
    assert capsys.readouterr().out == ""
