"""One gate run: revisions → rounds → store → judge → reports.

Data flows one way. Everything started here (worktrees, targets, load
processes, temporary files) is torn down in ``finally`` blocks, so an error or
Ctrl-C leaves nothing behind and earlier results in the store intact.
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from perfgate import gitops, leftovers
from perfgate.codec import verdict_to_dict
from perfgate.config import Config, ScenarioConfig
from perfgate.credentials import read_accounts
from perfgate.errors import ConfigError, LiveAbort
from perfgate.faults.round import FaultPlan, plan_faults
from perfgate.faults.storm import storm_windows
from perfgate.figures import FailoverFigures, RedundancyFigures
from perfgate.judge import pairs_to_buy
from perfgate.judge.names import check_gate_names
from perfgate.live import LiveBudget, check_live, live_revisions, requests_by_side
from perfgate.load.distributed import run_load_distributed
from perfgate.load.runner import LoadTarget, check_locustfile, invalid_reason, run_load
from perfgate.load.specs import load_spec
from perfgate.machine import fingerprint, machine_info, versions
from perfgate.measurelock import measurement_lock
from perfgate.model import (
    Design,
    Manifest,
    Note,
    NoteKind,
    Revision,
    RoundHealth,
    RoundMetrics,
    RoundRecord,
    RoundSpec,
    Side,
    State,
    Verdict,
)
from perfgate.plan import plan_pairs
from perfgate.procs import check_stop, set_owner_run
from perfgate.progress import Progress
from perfgate.rig import ACK_LOG, build_sides
from perfgate.store import LocalStore, new_run_id, open_store
from perfgate.store.query import Evidence, Key, Measurements, count_pairs, judge_evidence, round_evidence
from perfgate.target import ResourceSampler, run_setup

#: Runs one round: (state, scenario, spec) -> (record, samples, resources).
RoundRunner = Callable[["_RunState", ScenarioConfig, RoundSpec], tuple[RoundRecord, pa.Table, pa.Table]]


@dataclass(frozen=True)
class GateOptions:
    baseline: str = "HEAD~1"
    candidate: str = "HEAD"  # a clean worktree, built like the baseline; gitops.WORKTREE when asked
    design: Design | None = None
    rounds: int | None = None  # planned pairs of rounds ([rounds] count)
    max_rounds: int | None = None  # budget in pairs, confirmation pairs included ([rounds] max)
    margin: float | None = None
    scenarios: tuple[str, ...] = ()
    seed: int | None = None
    command: str = ""
    workers: int | None = None  # Locust worker processes per round (0: in-process)
    reuse: bool = True  # pool pairs stored by earlier runs of the same comparison, config and machine
    wait: bool = True  # wait for another gate measuring on this machine (False: fail at once)
    baseline_url: str = ""  # live targets: override [target] baseline_url / candidate_url
    candidate_url: str = ""
    baseline_label: str = ""  # a live side's label (default: its version endpoint's text, else its URL)
    candidate_label: str = ""
    live: bool = False  # live targets may be gated (perfgate run); hooks, ci, bisect and backfill gate commits


@dataclass(frozen=True)
class GateResult:
    """A gate's verdict and its stored run; the caller writes reports from the store if it wants them."""

    verdict: Verdict
    run_id: str


@dataclass
class _RunState:
    config: Config
    run_id: str
    store: LocalStore
    checkouts: dict[Side, Path]
    scratch: Path
    progress: Progress
    round_runner: RoundRunner
    fault_plans: dict[str, FaultPlan] = field(default_factory=dict)
    metrics: list[RoundMetrics] = field(default_factory=list)
    failover: list[FailoverFigures] = field(default_factory=list)  # per round and side, for the hard checks
    redundancy: list[RedundancyFigures] = field(default_factory=list)  # likewise
    reused: dict[str, int] = field(default_factory=dict)  # pairs pooled from earlier runs, per scenario
    next_index: int = 0
    invalid: int = 0
    confirmation: int = 0
    budget: LiveBudget | None = None  # live targets: what is left of [live]'s limits
    stopped: str = ""  # why a live run stopped buying rounds before its plan or budget did


def apply_options(config: Config, options: GateOptions) -> Config:
    rounds = config.rounds
    if options.design is not None:
        rounds = replace(rounds, design=options.design)
    if options.rounds is not None:
        rounds = replace(rounds, count=options.rounds, max=max(rounds.max, options.rounds))
    if options.max_rounds is not None:
        rounds = replace(rounds, max=max(options.max_rounds, rounds.count))
    judge_config = config.judge if options.margin is None else replace(config.judge, margin=options.margin)
    scenarios = config.scenarios
    if options.scenarios:
        scenarios = tuple(config.scenario(name) for name in options.scenarios)
    if options.workers is not None:
        scenarios = tuple(replace(s, workers=options.workers) for s in scenarios)
    target = config.target
    if options.baseline_url or options.candidate_url:
        target = replace(
            target,
            baseline_url=(options.baseline_url or target.baseline_url).rstrip("/"),
            candidate_url=(options.candidate_url or target.candidate_url).rstrip("/"),
        )
    return replace(config, target=target, rounds=rounds, judge=judge_config, scenarios=scenarios)


def run_gate(
    config: Config,
    repo_dir: Path,
    options: GateOptions,
    progress: Progress | None = None,
    *,
    round_runner: RoundRunner | None = None,
) -> GateResult:
    """Measure both revisions, judge, store and report. ``round_runner`` runs one round
    elsewhere (a cluster, whose nodes run ``[target] setup`` themselves); by default rounds
    run on this machine."""
    progress = progress or Progress()
    config = apply_options(config, options)
    live = config.target.live
    if live and not options.live:
        raise ConfigError(
            f"{config.path}: [target] baseline_url/candidate_url: live targets are gated by `perfgate run` "
            "(or compared by `perfgate nodes`), not by a command that gates commits"
        )
    check_live(config)
    if live and round_runner is not None:
        raise ConfigError("live targets (--baseline-url, --candidate-url) run from this machine, not on a cluster")
    repo = gitops.open_repo(repo_dir)
    revisions = (
        live_revisions(config.target, {Side.BASELINE: options.baseline_label, Side.CANDIDATE: options.candidate_label})
        if live
        else {
            Side.BASELINE: gitops.resolve(repo, options.baseline),
            Side.CANDIDATE: gitops.resolve(repo, options.candidate),
        }
    )
    store = open_store(config.store, config.root)
    reaped = leftovers.reap(Path(repo.working_tree_dir or repo_dir), store)  # what a killed gate left
    if reaped.summary():
        progress.message(f"cleaned up after a killed gate: {reaped.summary()}")
    scratch = leftovers.make_scratch(Path(repo.working_tree_dir or repo_dir))
    try:
        plans = {s.name: plan_faults(s) for s in config.scenarios}
        for scenario in config.scenarios:
            _check_scenario(config, scenario, scratch / f"check-{scenario.name}")
        run_id = store.create_run(_manifest(config, revisions, options, leftovers.owner(), gitops.web_url(repo)))
        leftovers.record_run(scratch, run_id)
        set_owner_run(run_id)
        try:
            with ExitStack() as stack:
                checkouts = {
                    side: stack.enter_context(gitops.checkout(repo, rev, scratch / side.value))
                    for side, rev in revisions.items()
                    if not live  # a live side is a URL: no worktree
                }
                if config.target.setup and round_runner is None and not live:  # both sides alike, before any measuring
                    for side, checkout in checkouts.items():
                        progress.message(f"setup of the {side.value} ({revisions[side].short}): {config.target.setup}")
                        log = scratch / f"setup-{side.value}.log"
                        run_setup(
                            config.target.setup,
                            checkout,
                            log,
                            config.target.setup_timeout,
                            side.value,
                            config.target.env,
                        )
                state = _RunState(
                    config, run_id, store, checkouts, scratch, progress, round_runner or _run_round, plans
                )
                if live:
                    state.budget = LiveBudget(config.live)
                with measurement_lock(wait=options.wait, on_wait=progress.message):
                    if options.reuse and not live:  # no key says two live runs measured the same deployments
                        state.reused = _reuse_pairs(state, revisions)
                    verdict = _measure_and_judge(state, revisions)
        except BaseException as exc:
            store.mark_run(run_id, _end_state(exc))
            raise
        store.save_verdict(run_id, verdict_to_dict(verdict))
        return GateResult(verdict, run_id)
    finally:
        set_owner_run("")
        shutil.rmtree(scratch, ignore_errors=True)


def _end_state(exc: BaseException) -> str:
    """The state of a run that ``exc`` ended."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return "aborted" if isinstance(exc, LiveAbort) else "error"


def _check_scenario(config: Config, scenario: ScenarioConfig, workdir: Path) -> None:
    """What can fail before anything starts: the locustfile, and the extra a dependency needs."""
    if scenario.database == "mariadb":
        import perfgate.deps  # noqa: F401  (pymysql, the [mariadb] extra: a missing one is one line now)
    spec = load_spec(config, scenario, ())
    if spec.credentials:
        read_accounts(Path(spec.credentials))  # a bad file is one line now, not in every round
    shape = check_locustfile(spec, workdir).shape
    if shape and scenario.workers:
        raise ConfigError(
            f"scenario {scenario.name!r}: its shape {shape} (a LoadTestShape) runs only with workers = 0; "
            "shape = false runs fixed users"
        )


def _measure_and_judge(state: _RunState, revisions: dict[Side, Revision]) -> Verdict:
    """Measure and judge look by look, as :func:`~perfgate.judge.pairs_to_buy` says: the planned
    pairs first, then confirmation pairs for the scenarios still inconclusive."""
    config = state.config
    planned, budget = config.rounds.count, config.rounds.max
    rng = random.Random(config.rounds.seed)
    flip = rng.random() < 0.5  # one duet order for the whole run: confirmation pairs keep alternating
    rounds_per_pair = 1 if config.rounds.design is Design.DUET else 2
    state.progress.planned(len(config.scenarios) * planned * rounds_per_pair)
    pairs = {scenario.name: state.reused.get(scenario.name, 0) for scenario in config.scenarios}
    verdict: Verdict | None = None
    undecided: set[str] = set(pairs)
    while True:
        red = verdict is not None and verdict.state is State.REGRESSION
        buy = pairs_to_buy(pairs, undecided, planned, budget, red=red)
        if verdict is not None and (not buy or state.stopped):
            return verdict
        for scenario in config.scenarios:
            extra = buy.get(scenario.name, 0)
            if not extra:
                continue
            confirmation = pairs[scenario.name] >= planned
            if confirmation:
                state.progress.message(f"{scenario.name}: inconclusive, buying {extra} confirmation pair(s)")
            _run_rounds(
                state,
                scenario,
                plan_pairs(
                    scenario.name,
                    config.rounds.design,
                    extra,
                    first_index=state.next_index,
                    first_pair=pairs[scenario.name],
                    rng=rng,
                    confirmation=confirmation,
                    flip=flip,
                ),
            )
            pairs[scenario.name] += extra
        verdict = judge_evidence(
            Evidence(state.metrics, state.failover, state.redundancy),
            config.judge,
            revisions[Side.BASELINE],
            revisions[Side.CANDIDATE],
            run_id=state.run_id,
            invalid_rounds=state.invalid,
            confirmation_rounds=state.confirmation,
            planned_pairs=planned,
            budget_pairs=budget,
        )
        if any(state.reused.values()):
            reused = tuple((name, pairs) for name, pairs in state.reused.items() if pairs)
            verdict = replace(verdict, notes=(*verdict.notes, Note(NoteKind.REUSED, reused=reused)))
        if state.stopped:
            verdict = replace(verdict, notes=(*verdict.notes, Note(NoteKind.STOPPED, text=state.stopped)))
        undecided = {m.scenario for m in verdict.metrics if m.verdict is State.INCONCLUSIVE}


#: How an aborted round's invalid_reason starts.
ABORTED = "aborted: "


def _measured_requests(samples: pa.Table) -> int:
    """Requests of a round after its warm-up."""
    import pyarrow.compute as pc

    return int(pc.sum(pc.invert(samples["warmup"])).as_py() or 0) if samples.num_rows else 0


def _run_rounds(state: _RunState, scenario: ScenarioConfig, specs: list[RoundSpec]) -> None:
    for spec in specs:
        for attempt in (1, 2):
            check_stop()
            if state.budget is not None:
                state.stopped = state.budget.refusal(scenario.warmup + scenario.duration, [s.value for s in spec.sides])
                if state.stopped:
                    state.progress.message(f"live run: {state.stopped}; judging the rounds measured")
                    return
            spec = replace(spec, index=state.next_index)
            state.next_index += 1
            state.progress.round_started(spec)
            record, samples, resources = state.round_runner(state, scenario, spec)
            state.store.save_round(record, samples, resources)
            if state.budget is not None:
                state.budget.spend(requests_by_side(samples))
                if record.invalid_reason.startswith(ABORTED):
                    raise LiveAbort(f"round {record.index} {record.invalid_reason}; the run stopped at once")
            state.progress.round_finished(record, _measured_requests(samples))
            if record.valid:
                samples_df = samples.to_pandas()
                evidence = round_evidence(record, samples_df, resources.to_pandas())
                state.metrics.extend(evidence.metrics)
                check_gate_names(state.config, state.metrics)  # a margin of a request never made: stop now
                state.failover += evidence.failover
                state.redundancy += evidence.redundancy
                state.confirmation += int(spec.confirmation)
                break
            state.invalid += 1
            if attempt == 1:
                state.progress.message(f"round {spec.index} invalid ({record.invalid_reason}); re-running it once")


def _reuse_pairs(state: _RunState, revisions: dict[Side, Revision]) -> dict[str, int]:
    """Pool the pairs (and their failover figures) stored by earlier complete runs of exactly this
    comparison, measured under the same key (config, locustfile contents, perfgate and Locust
    versions) on a machine with the same fingerprint; never for an uncommitted working tree."""
    if any(r.dirty or r.label == gitops.WORKTREE for r in revisions.values()):
        return {}
    measurements = Measurements(state.store)
    runs = [
        r
        for r in measurements.comparison_runs(
            revisions[Side.BASELINE].sha,
            revisions[Side.CANDIDATE].sha,
            Key.of(state.config),
            state.config.rounds.design.value,
        )
        if r != state.run_id
    ]
    if not runs:
        return {}
    names = [s.name for s in state.config.scenarios]
    evidence = measurements.pooled_evidence(runs, names, start=1)  # pair ids >= 100000: no clash
    state.metrics.extend(evidence.metrics)
    state.failover.extend(evidence.failover)
    state.redundancy.extend(evidence.redundancy)
    return {name: count_pairs(evidence.metrics, [name]) for name in names}


def _run_round(state: _RunState, scenario: ScenarioConfig, spec: RoundSpec) -> tuple[RoundRecord, pa.Table, pa.Table]:
    """Dependencies, faults and targets up, load, record, everything down: one round here."""
    config = state.config
    plan = state.fault_plans.get(scenario.name, FaultPlan())
    workdir = state.scratch / f"round-{spec.index:03d}"
    load_dir = workdir / "load"
    with ExitStack() as stack:
        rigs = build_sides(stack, config, scenario, plan, spec, state.checkouts, workdir)
        for rig in rigs:
            rig.target.wait_ready()
        samplers = [ResourceSampler(rig.target) for rig in rigs]
        for sampler in samplers:
            sampler.start()
        started = False

        def watch() -> None:
            nonlocal started
            check_stop()
            if not started and (scenario.workers or (load_dir / "started").exists()):
                started = True
                t0_ns = time.time_ns()
                for rig in rigs:
                    rig.faults.start(t0_ns)
            if not plan.chaos:  # with chaos, a dead target is an outcome to measure, not an error
                for rig in rigs:
                    rig.target.check_alive()

        spec_of_load = load_spec(config, scenario, tuple(LoadTarget(r.side, r.load_host) for r in rigs), state.budget)
        if scenario.database:
            spec_of_load = replace(spec_of_load, env={**spec_of_load.env, "PERFGATE_ACK_LOG": str(workdir / ACK_LOG)})
        if scenario.workers > 0:
            result = run_load_distributed(spec_of_load, load_dir, scenario.workers, watch=watch)
        else:
            result = run_load(spec_of_load, load_dir, watch=watch)
        watch()
        resources = pa.concat_tables([s.stop() for s in samplers])
        for rig in rigs:
            rig.faults.__exit__(None, None, None)  # schedules and chaos done: their windows are final
        windows = [w for rig in rigs for w in rig.faults.windows()]
        samples_df, resources_df = result.samples.to_pandas(), resources.to_pandas()
        for rig in rigs:
            windows += rig.redundancy(samples_df, windows, result.measure_start_ns, result.ended_ns)
        lost = next(filter(None, (rig.lost_dependency() for rig in rigs)), "")
        if not lost:
            for rig in rigs:
                measured = rig.failover(samples_df, resources_df, windows, result.ended_ns, workdir / ACK_LOG)
                if measured is not None:
                    windows.append(measured)
    windows += storm_windows(samples_df)
    reason = (ABORTED + result.aborted if result.aborted else "") or lost
    reason = reason or invalid_reason(result.generator_cpu, result.loop_lag_ms_p50)
    record = RoundRecord(
        run_id=state.run_id,
        index=spec.index,
        scenario=spec.scenario,
        design=config.rounds.design,
        sides=spec.sides,
        pair=spec.pair,
        started_ns=result.started_ns,
        measure_start_ns=result.measure_start_ns,
        ended_ns=result.ended_ns,
        valid=not reason,
        invalid_reason=reason,
        confirmation=spec.confirmation,
        generator_cpu=result.generator_cpu,
        windows=tuple(sorted(windows, key=lambda w: w.start_ns)),
        health=RoundHealth(
            loop_lag_ms_p50=result.loop_lag_ms_p50,
            loop_lag_ms_p99=result.loop_lag_ms_p99,
            user_errors=result.user_errors,
            first_user_error=result.first_user_error,
            ports={r.side.value: r.target.port for r in rigs},
        ),
    )
    return record, result.samples, resources


def _manifest(
    config: Config, revisions: dict[Side, Revision], options: GateOptions, owner: dict[str, Any], repository_url: str
) -> Manifest:
    from perfgate.redact import redact

    return Manifest(
        run_id=new_run_id(),
        baseline=revisions[Side.BASELINE],
        candidate=revisions[Side.CANDIDATE],
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        config=redact(config.to_dict()),  # no [target] env secrets in the store or the reports
        config_hash=config.measurement_hash(),
        fingerprint=fingerprint(),
        machine=dict(machine_info()),
        versions=versions(),
        command=options.command,
        design=config.rounds.design.value,
        scenarios=tuple(s.name for s in config.scenarios),
        owner=owner,
        repository_url=repository_url,
    )
