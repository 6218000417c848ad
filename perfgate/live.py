"""Live targets: deployments that perfgate did not start, reached by URL.

A :class:`LiveTarget` is a :class:`~perfgate.target.Target` whose start is a readiness
check and whose stop does nothing, so the round loop, the store, the judge and the
reports stay one path for both kinds. Its resources come from its metrics endpoint
alone. A live side has no sha: its :class:`~perfgate.model.Revision` carries the URL
and a label (given, or read from ``[target] version_path``). The safety limits of
``[live]`` are checked here before anything is sent, and :class:`LiveBudget` says
whether one more round still fits in them.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from perfgate.config import LIVE_REQUIRED, Config, LiveConfig, TargetConfig
from perfgate.errors import ConfigError, TargetError
from perfgate.loopback import urlopen
from perfgate.model import Revision, Side
from perfgate.target import Target

#: The longest version label kept from a version endpoint.
LABEL_CHARS = 80


def live_url(config: TargetConfig, side: Side) -> str:
    return config.baseline_url if side is Side.BASELINE else config.candidate_url


class LiveTarget(Target):
    """A deployment at ``url``: probed until ready, its ``/metrics`` read; never started or stopped."""

    runs_here = False

    def __init__(self, config: TargetConfig, side: Side, url: str, name: str = ""):
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        super().__init__(config, Path("."), Path("."), side, port, label=f"{name or side.value} ({url})")
        self.live_url = url

    @property
    def url(self) -> str:
        return self.live_url

    def launch(self) -> None:
        """Nothing to start: :meth:`wait_ready` checks the deployment answers."""

    def check_alive(self) -> None:
        """Nothing of ours to watch; a deployment that stops answering shows up as errors."""

    def stop(self) -> None:
        """Somebody else's service: left running."""

    def _log_tail(self) -> str:
        return ""  # no log of ours

    def version(self) -> str:
        """The text at ``[target] version_path`` (a JSON object's ``version``, else the body's first line)."""
        url = self.url + self.config.version_path
        try:
            with urlopen(url, timeout=5) as response:
                body = response.read(4096).decode("utf-8", "replace").strip()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise TargetError(
                f"[target] version_path: cannot read the {self.side.value}'s version at {url}: {exc}"
            ) from None
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        text = str(data["version"]) if isinstance(data, dict) and "version" in data else body.split("\n")[0]
        if not text.strip():
            raise TargetError(f"[target] version_path: the {self.side.value}'s version at {url} is empty")
        return text.strip()[:LABEL_CHARS]


def check_live(config: Config) -> None:
    """What a run against live targets needs before it sends anything: both URLs, every safety
    limit, and scenarios that only read unless [live] allow_writes; local targets skip this."""
    if not config.target.live:
        return
    for key in ("baseline_url", "candidate_url"):
        if not getattr(config.target, key):
            flag = "--" + key.replace("_", "-")
            raise ConfigError(f"{config.path}: [target] {key} (or {flag}) is missing: a live run needs both")
    check_live_limits(config)


def check_live_limits(config: Config) -> None:
    """The required [live] limits, and scenarios fit for somebody's running service."""
    for key in LIVE_REQUIRED:
        if getattr(config.live, key) is None:
            raise ConfigError(f"{config.path}: [live] {key} is required for live targets")
    for scenario in config.scenarios:
        if scenario.database or scenario.faults or scenario.chaos or scenario.monkey or scenario.storm:
            raise ConfigError(
                f"{config.path}: scenario {scenario.name!r}: database, faults, chaos, monkey and storm "
                "need targets that perfgate starts, not live ones"
            )
        if scenario.workers:
            raise ConfigError(f"{config.path}: scenario {scenario.name!r}: live targets run with workers = 0")
        if not scenario.read_only and not config.live.allow_writes:
            raise ConfigError(
                f"{config.path}: scenario {scenario.name!r} is not marked read_only; against live targets "
                "only read-only scenarios run unless [live] allow_writes = true"
            )


def live_revisions(config: TargetConfig, labels: dict[Side, str]) -> dict[Side, Revision]:
    """Both deployments checked ready (one deadline each, both probed before any load), and
    their revisions: the label given, else the version endpoint's, else the URL."""
    targets = {side: LiveTarget(config, side, live_url(config, side)) for side in Side}
    for target in targets.values():
        target.wait_ready()
    revisions = {}
    for side, target in targets.items():
        label = labels.get(side) or (target.version() if config.version_path else target.url)
        revisions[side] = Revision(label=label, sha="", subject=f"live deployment at {target.url}", url=target.url)
    return revisions


@dataclass
class LiveBudget:
    """What is left of ``[live]``'s request cap (per side) and maximum duration, from the run's start."""

    limits: LiveConfig
    started: float = field(default_factory=time.monotonic)
    sent: dict[str, int] = field(default_factory=dict)

    def left(self, side: str) -> int:
        return max(0, (self.limits.max_requests or 0) - self.sent.get(side, 0))

    def refusal(self, round_s: float, sides: list[str]) -> str:
        """Why one more round of ``round_s`` seconds would not fit ("" when it fits): at
        ``[live] rate`` it could send more than a side has left, or end past the maximum duration."""
        rate, longest = self.limits.rate or 0.0, self.limits.max_duration or 0.0
        elapsed = time.monotonic() - self.started
        if elapsed + round_s > longest:
            return f"[live] max_duration ({longest:g} s) leaves no room for another {round_s:g} s round"
        need = int(rate * round_s) + 1
        short = [side for side in sides if self.left(side) < need]
        if short:
            return (
                f"[live] max_requests ({self.limits.max_requests}) leaves the {short[0]} fewer than the "
                f"{need} requests a round may send at [live] rate"
            )
        return ""

    def spend(self, requests_by_side: dict[str, int]) -> None:
        for side, count in requests_by_side.items():
            self.sent[side] = self.sent.get(side, 0) + count


def requests_by_side(samples: pa.Table) -> dict[str, int]:
    """Every recorded request of a round per side, warm-up included: what a live run's cap counts."""
    if not samples.num_rows:
        return {}
    counts = pc.value_counts(samples["side"])
    sides, numbers = counts.field("values").to_pylist(), counts.field("counts").to_pylist()
    return {str(side): int(number or 0) for side, number in zip(sides, numbers)}
