"""How a gate reports its progress: callbacks that a front end (the CLI) overrides."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from perfgate.model import RoundRecord, RoundSpec


class Progress:
    """Callbacks the CLI overrides to show progress; the defaults are silent."""

    def planned(self, total_rounds: int) -> None: ...
    def round_started(self, spec: RoundSpec) -> None: ...
    def round_finished(self, record: RoundRecord, requests: int = 0) -> None: ...  # measured requests
    def message(self, text: str) -> None: ...
