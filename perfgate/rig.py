"""One side of one round on this machine: its dependencies, fault proxies and target.

Started in that order (the target's command is given the proxies' addresses),
stopped in reverse by the caller's ExitStack. A scenario's groups (``[scenarios.X.groups.NAME]``)
start N member processes per side, each behind a link of its own name (``auth-0``..), and the
target's command gets ``{NAME}``: the members' addresses, comma-separated. With ``database = "mariadb"`` each
side gets a real MariaDB primary and replica of its own, and after the load the
rig measures what the database outage did to the service.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from perfgate.config import Config, ScenarioConfig, TargetConfig
from perfgate.faults.chaos import Action, Managed, target_process
from perfgate.faults.failover import failover_figures, failover_window
from perfgate.faults.group import GroupSpec, scenario_groups
from perfgate.faults.redundancy import member_outages, redundancy_figures, redundancy_window
from perfgate.faults.round import FaultPlan, SideFaults
from perfgate.figures import ChaosFigures, FaultFigures
from perfgate.live import LiveTarget, live_url
from perfgate.machine import cpu_placement
from perfgate.model import RoundSpec, Side, Window
from perfgate.procs import kill_trees
from perfgate.target import Target

ACK_LOG = "acks.log"


@dataclass
class SideRig:
    side: Side
    target: Target
    faults: SideFaults
    db: Any = None  # perfgate.deps.MariaDbPair
    members: dict[str, Target] = field(default_factory=dict)  # group member name ("auth-0") -> its process
    groups: tuple[GroupSpec, ...] = ()
    url: str = ""  # a live target's URL, which the load goes to as it is

    @property
    def load_host(self) -> str:
        return self.url or "http://" + self.faults.address("target")

    def lost_dependency(self) -> str:
        """Why this side's database cannot be measured after the load ("" when it can): a primary
        the chaos left down is started again here, and one whose crash recovery fails is MariaDB's
        failure, not the service's, so the round is invalid rather than the gate an error."""
        if self.db is None or self.db.primary.running:
            return ""
        from perfgate.deps import MariaDbError

        try:
            self.db.restart_primary()
        except MariaDbError as exc:
            return f"the {self.side.value} side's database primary did not come back: {exc}"
        return ""

    def outage(self, windows: list[Window], round_end_ns: int) -> tuple[int, int] | None:
        """Onset and end of this side's database outage, from its chaos and fault windows."""
        mine = [w for w in windows if w.side == self.side.value]
        cuts = [w for w in mine if isinstance(w.detail, FaultFigures) and w.detail.link == "primary"]
        if cuts:
            return cuts[0].start_ns, cuts[0].end_ns
        hits = sorted(
            (w.detail for w in mine if isinstance(w.detail, ChaosFigures) and w.detail.process == "primary"),
            key=lambda figures: figures.real_ns,
        )
        if not hits:
            return None
        first = hits[0]
        back = (h.real_ns for h in hits[1:] if h.action in (Action.RESTART, Action.RESUME))
        return first.real_ns, first.restore_ns or next(back, round_end_ns)

    def failover(
        self, samples: pd.DataFrame, resources: pd.DataFrame, windows: list[Window], round_end_ns: int, ack_log: Path
    ) -> Window | None:
        """A read-only window with this side's failover figures, reconciling acknowledged writes
        with the primary, which must be up: call it only once :meth:`lost_dependency` said ""."""
        if self.db is None:
            return None
        span = self.outage(windows, round_end_ns)
        if span is None:
            return None
        from perfgate.deps import query_stored_keys, read_ack_log, reconcile

        acked = read_ack_log(ack_log, host=self.load_host) if ack_log.exists() else []
        s = self.db.settings
        stored = query_stored_keys(self.db.primary.port, s.user, s.password, s.database)
        check = reconcile(acked, stored)
        exited = self.target.proc is not None and self.target.proc.poll() is not None
        figures = failover_figures(
            samples,
            resources,
            self.side.value,
            *span,
            target_exited=exited,
            acked_lost=len(check.lost),
            acknowledged=check.acknowledged,
        )
        return failover_window(figures, *span)

    def redundancy(self, samples: pd.DataFrame, windows: list[Window], start_ns: int, end_ns: int) -> list[Window]:
        """One window per group that was hit on this side, with its per-phase figures. Call it while the
        target runs: the times it stopped using dead members come from its ``/metrics``."""
        out = []
        exited = self.target.proc is not None and self.target.proc.poll() is not None
        metrics = {} if exited else self.target.metrics()
        for group in self.groups:
            outages = [member_outages(windows, self.side.value, m, end_ns) for m in group.member_names]
            if not any(outages):
                continue
            figures = redundancy_figures(
                samples,
                self.side.value,
                group.name,
                outages,
                start_ns,
                end_ns,
                backends=metrics.get(f"{group.name}_backends"),
                target_exited=exited,
            )
            out.append(redundancy_window(figures))
        return out


def _primary(db: Any) -> Managed:
    def answers() -> bool:
        try:
            db.primary.connect(timeout_s=0.3).close()
            return True
        except Exception:  # any failure to answer is an outage
            return False

    return Managed("primary", lambda: db.primary.pid if db.primary.running else None, db.restart_primary, answers)


def start_group(stack: ExitStack, group: GroupSpec, worktree: Path, workdir: Path, side: Side) -> dict[str, Target]:
    """Start every member of ``group`` inside ``stack`` (they boot at once) and wait until each is ready."""
    members = {}
    for name, command in zip(group.member_names, group.commands, strict=True):
        config = TargetConfig(
            command=command, ready_path=group.ready_path, ready_timeout=group.ready_timeout, metrics_path=None
        )
        member = Target(config, worktree, workdir / side.value / name, side, label=f"{side.value} {name}")
        stack.callback(member.stop)
        member.launch()
        members[name] = member
    for member in members.values():
        member.wait_ready()
    return members


def build_side(
    stack: ExitStack,
    config: Config,
    scenario: ScenarioConfig,
    plan: FaultPlan,
    side: Side,
    worktree: Path,
    workdir: Path,
    offset: int,
) -> SideRig:
    """Start one side's dependencies and proxies inside ``stack``, and launch its target
    without waiting for it: the caller waits, so that both sides of a duet boot at once."""
    target_config = config.target
    if scenario.command:
        from dataclasses import replace

        target_config = replace(target_config, command=scenario.command)
    port = config.target.port + offset if config.target.port else 0
    target = Target(
        target_config,
        worktree,
        workdir / side.value,
        side,
        port,
        label=f"{side.value} ({worktree.name})",
        cpus=cpu_placement(config.rounds.placement)[0],
    )
    upstreams = {"target": f"127.0.0.1:{target.port}"}
    processes: list[Any] = [target_process(target)]
    groups = scenario_groups(scenario.groups)
    members: dict[str, Target] = {}
    for group in groups:
        members |= start_group(stack, group, worktree, workdir, side)
    for name, member in members.items():
        upstreams[name] = f"127.0.0.1:{member.port}"
        processes.append(target_process(member, name))
    db = None
    if scenario.database == "mariadb":
        from perfgate.deps import MariaDbPair

        db = stack.enter_context(MariaDbPair(workdir / side.value / "db"))
        upstreams["primary"] = db.primary.address
        processes.append(_primary(db))
    faults = stack.enter_context(SideFaults(plan, side.value, upstreams, processes))
    if db is not None:
        primary = faults.address("primary")
        target.placeholders.update(
            db_primary=primary, db_replica=db.replica.address, db_args=tuple(db.imserver_args(primary))
        )  # quoted word by word
    for group in groups:  # the target reaches each member through its link
        target.placeholders[group.name] = ",".join(faults.address(name) for name in group.member_names)
    stack.callback(target.stop)
    target.launch()
    return SideRig(side, target, faults, db, members, groups)


def build_live_side(stack: ExitStack, config: Config, side: Side) -> SideRig:
    """One side at a deployment perfgate did not start: no proxy, no dependency, no process."""
    url = live_url(config.target, side)
    faults = stack.enter_context(SideFaults(FaultPlan(), side.value, {}, []))
    return SideRig(side, LiveTarget(config.target, side, url), faults, url=url)


def build_sides(
    stack: ExitStack,
    config: Config,
    scenario: ScenarioConfig,
    plan: FaultPlan,
    spec: RoundSpec,
    checkouts: dict[Side, Path],
    workdir: Path,
) -> list[SideRig]:
    """Every side of one round, launched inside ``stack``; on unwinding, their targets are stopped
    together (one ``stop_timeout`` for all) before anything else of theirs is torn down. Live
    targets are only checked ready by the caller, as started ones are."""
    if config.target.live:
        return [build_live_side(stack, config, side) for side in spec.sides]
    rigs = [
        build_side(stack, config, scenario, plan, side, checkouts[side], workdir, offset)
        for offset, side in enumerate(spec.sides)
    ]
    stack.callback(stop_targets, [rig.target for rig in rigs])  # runs first: each side's own stop is then a no-op
    return rigs


def stop_targets(targets: list[Target]) -> None:
    """SIGTERM every target at once, wait on all with one deadline, then SIGKILL what is left."""
    procs = [t.proc for t in targets if t.proc is not None]
    if procs:
        kill_trees(procs, max(t.config.stop_timeout for t in targets))
