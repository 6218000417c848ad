"""Run a gate's rounds on a provisioned cluster, and the whole ``perfgate run --infra`` path.

The controller (this process) keeps the pipeline: plan, store, judge, reports.
Each round is asked of the nodes through S3 (see :mod:`perfgate.cluster.agent`)
and its samples and resource tables come back the same way. The cluster is
always torn down: in ``finally``, on SIGINT and on SIGTERM (CI cancel).
"""

from __future__ import annotations

import json
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from perfgate import gitops
from perfgate.cluster.base import PORT_SPAN, ClusterHandle, InfraSettings
from perfgate.cluster.bundle import make_bundle
from perfgate.cluster.ec2 import Ec2Cluster
from perfgate.codec import load_status_from_dict
from perfgate.config import Config, ScenarioConfig
from perfgate.errors import InfraError, LoadError, TargetError
from perfgate.load.runner import invalid_reason
from perfgate.model import RESOURCE_SCHEMA, ClusterRound, RoundHealth, RoundRecord, RoundSpec
from perfgate.procs import on_signal

if TYPE_CHECKING:
    from perfgate.gate import GateOptions, GateResult
    from perfgate.progress import Progress

#: Seconds for every node to install itself and report ready (the first round waits for it).
BOOT_TIMEOUT_S = 900.0
#: Seconds past a round's planned end before it is given up.
ROUND_GRACE_S = 120.0
#: Minutes of overhead per round (targets up and down, worker connections) in estimates.
ROUND_OVERHEAD_MIN = 0.5


def estimate_minutes(config: Config) -> float:
    """How long the rounds may take at most: the budget of pairs ([rounds] max, confirmation pairs
    included), one round per pair in a duet, two when interleaved."""
    per_round = sum((s.warmup + s.duration) / 60.0 + ROUND_OVERHEAD_MIN for s in config.scenarios)
    sides = 1 if config.rounds.design.value == "duet" else 2
    return per_round * config.rounds.max * sides * 1.25  # a quarter for re-run invalid rounds


class RemoteRounds:
    """The cluster's round runner: same signature and results as ``gate._run_round``."""

    def __init__(
        self,
        cluster: Ec2Cluster,
        handle: ClusterHandle,
        settings: InfraSettings,
        config: Config,
        repo_root: Path,
        boot_timeout: float = BOOT_TIMEOUT_S,
    ):
        self.cluster, self.handle, self.settings, self.config = cluster, handle, settings, config
        self.repo_root = repo_root
        self.boot_timeout = boot_timeout
        self.seq = 0
        self.ready = False
        self.s3 = cluster.s3

    # --- S3 ---------------------------------------------------------------------

    def _key(self, key: str) -> str:
        return f"{self.handle.run_prefix}/{key}"

    def put(self, key: str, data: dict[str, Any]) -> None:
        self.s3.put_object(Bucket=self.handle.bucket, Key=self._key(key), Body=json.dumps(data).encode())

    def keys(self, prefix: str) -> set[str]:
        resp = self.s3.list_objects_v2(Bucket=self.handle.bucket, Prefix=self._key(prefix))
        return {o["Key"].removeprefix(self._key("")) for o in resp.get("Contents", [])}

    def get_json(self, key: str) -> dict[str, Any]:
        body = self.s3.get_object(Bucket=self.handle.bucket, Key=self._key(key))["Body"].read()
        data: dict[str, Any] = json.loads(body)  # a JSON object a node wrote
        return data

    def get_table(self, key: str, path: Path) -> pa.Table:
        self.s3.download_file(self.handle.bucket, self._key(key), str(path))
        return pq.read_table(path)

    # --- health -----------------------------------------------------------------

    def check_nodes(self) -> None:
        for node in self.cluster.nodes(self.handle.run_id):
            if node.state not in ("pending", "running"):
                raise InfraError(f"instance {node.instance_id} ({node.role} {node.index}) is {node.state} mid-run")

    def wait_ready(self) -> None:
        """Every node installed and ready; a node that could not get ready (its ``[target] setup``
        failed) is one InfraError in its own words."""
        wanted = self.settings.targets + 1 + self.settings.workers
        end = time.monotonic() + self.boot_timeout
        last_check, seen = 0.0, set[str]()
        while True:
            found = self.keys("nodes/")
            for key in sorted(found - seen):
                seen.add(key)
                node = self.get_json(key)
                if node.get("state") == "failed":
                    raise InfraError(f"{key.removeprefix('nodes/').removesuffix('.json')}: {node.get('error')}")
            if len(found) >= wanted:
                break
            if time.monotonic() > end:
                raise InfraError(
                    f"only {len(found)} of {wanted} nodes were ready within "
                    f"{self.boot_timeout:g}s; see bootstrap.log on the nodes"
                )
            if time.monotonic() - last_check > 5.0:
                self.check_nodes()
                last_check = time.monotonic()
            time.sleep(0.5)
        self.ready = True

    # --- rounds -----------------------------------------------------------------

    def _locustfile(self, scenario: ScenarioConfig) -> str:
        path = self.config.resolve(scenario.locustfile)
        try:
            return str(path.resolve().relative_to(self.repo_root.resolve()))
        except ValueError as exc:
            raise InfraError(
                f"{scenario.locustfile}: the locustfile must be inside the repository to run on a cluster"
            ) from exc

    def run_round(
        self, state: Any, scenario: ScenarioConfig, spec: RoundSpec
    ) -> tuple[RoundRecord, pa.Table, pa.Table]:
        if not self.ready:
            self.wait_ready()
        seq = f"{self.seq:04d}"
        timeout = self.config.target.ready_timeout + 60.0 + scenario.warmup + scenario.duration + ROUND_GRACE_S
        hosts = {side.value: i % self.settings.targets for i, side in enumerate(spec.sides)}
        first = self.settings.target_port + (2 * self.seq) % PORT_SPAN  # rotate: see PORT_SPAN
        ports = {side.value: first + i for i, side in enumerate(spec.sides)}
        load = {
            "locustfile": self._locustfile(scenario),
            "user_classes": list(scenario.user_classes),
            "users": scenario.users,
            "spawn_rate": scenario.spawn_rate,
            "warmup": scenario.warmup,
            "duration": scenario.duration,
        }
        self.put(
            f"rounds/{seq}/request.json",
            {
                "index": spec.index,
                "sides": [s.value for s in spec.sides],
                "hosts": hosts,
                "ports": ports,
                "load": load,
                "timeout_s": timeout,
            },
        )
        self.seq += 1
        try:
            found = self._await(seq, timeout + 30.0, len(set(hosts.values())))
        except BaseException:
            self.put(f"rounds/{seq}/abort.json", {"reason": "controller gave up"})
            raise
        return self._collect(state, scenario, spec, seq, found, ports)

    def _await(self, seq: str, timeout: float, target_hosts: int) -> set[str]:
        end = time.monotonic() + timeout
        last_check = time.monotonic()
        while True:
            found = self.keys(f"rounds/{seq}/")
            errors = sorted(k for k in found if "/error-" in k)
            if errors:
                message = self.get_json(errors[0])["error"]
                kind = TargetError if "/error-target" in errors[0] else LoadError
                raise kind(f"cluster round {seq}: {message}")
            done = sum(1 for k in found if "/target-done-" in k)
            workers = sum(1 for k in found if "/cpu-worker-" in k)
            if f"rounds/{seq}/result.json" in found and done == target_hosts and workers == self.settings.workers:
                return found
            if time.monotonic() > end:
                raise InfraError(f"cluster round {seq} did not finish within {timeout:g}s")
            if time.monotonic() - last_check > 5.0:
                self.check_nodes()
                last_check = time.monotonic()
            time.sleep(0.5)

    def _collect(
        self, state: Any, scenario: ScenarioConfig, spec: RoundSpec, seq: str, found: set[str], ports: dict[str, int]
    ) -> tuple[RoundRecord, pa.Table, pa.Table]:
        key = f"rounds/{seq}/result.json"
        status = load_status_from_dict(self.get_json(key), key)
        if not status.ok:
            raise LoadError(f"cluster round {seq}: {status.error or 'the Locust master failed'}")
        with tempfile.TemporaryDirectory(prefix="perfgate-round-") as tmp:
            samples = self.get_table(f"rounds/{seq}/samples.parquet", Path(tmp) / "samples.parquet")
            parts = [self.get_table(k, Path(tmp) / Path(k).name) for k in sorted(found) if "/resources-" in k]
        resources = pa.concat_tables(parts) if parts else RESOURCE_SCHEMA.empty_table()
        cpu = max(self.get_json(k)["cpu"] for k in found if "/cpu-worker-" in k)
        reason = invalid_reason(cpu)  # the busiest worker's CPU; workers do not measure their loop lag
        record = RoundRecord(
            run_id=state.run_id,
            index=spec.index,
            scenario=spec.scenario,
            design=state.config.rounds.design,
            sides=spec.sides,
            pair=spec.pair,
            started_ns=status.started_ns,
            measure_start_ns=status.measure_start_ns,
            ended_ns=status.ended_ns,
            valid=not reason,
            invalid_reason=reason,
            confirmation=spec.confirmation,
            generator_cpu=cpu,
            health=RoundHealth(
                user_errors=status.user_errors,
                first_user_error=status.first_user_error,
                ports=ports,
                cluster=ClusterRound(
                    run_id=self.handle.run_id,
                    round=seq,
                    workers=self.settings.workers,
                    clock_offsets_ns=status.clock_offsets_ns,
                ),
            ),
        )
        return record, samples, resources

    def finish(self) -> None:
        with suppress(Exception):  # teardown follows anyway
            self.put("done.json", {"t": time.time()})


@contextmanager
def teardown_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM (CI cancel) go to :func:`perfgate.procs.on_signal`, as in the CLI: they
    set ``procs.STOP`` and raise KeyboardInterrupt, so ``finally`` blocks tear down."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def cluster_session(
    cluster: Ec2Cluster,
    settings: InfraSettings,
    bundle: dict[str, Path],
    minutes: float,
) -> Iterator[ClusterHandle]:
    """``up`` on entry, ``down`` on exit, whatever happens (and on SIGINT/SIGTERM)."""
    with teardown_on_signals():
        handle = cluster.up(settings, bundle, minutes=minutes)
        try:
            yield handle
        finally:
            cluster.down(handle.run_id)


def make_cluster(backend: str, settings: InfraSettings, workdir: Path | None = None) -> Ec2Cluster:
    if backend == "ec2":
        return Ec2Cluster(settings)
    if backend == "local-cloud":
        from perfgate.cluster.local import LocalCloud

        return LocalCloud(settings, workdir=workdir)
    raise InfraError(f"--infra: unknown backend {backend!r} (known: ec2, local-cloud)")


def run_gate_on_cluster(
    config: Config,
    repo_dir: Path,
    options: GateOptions,
    settings: InfraSettings,
    *,
    backend: str = "ec2",
    progress: Progress | None = None,
    cache_dir: Path | None = None,
    boot_timeout: float = BOOT_TIMEOUT_S,
) -> GateResult:
    """``perfgate run --infra BACKEND``: provision, run every round on the cluster, judge here, tear down.

    Returns the same :class:`perfgate.gate.GateResult` as :func:`perfgate.gate.run_gate`.
    """
    from perfgate import gate

    config = gate.apply_options(config, options)
    repo = gitops.open_repo(repo_dir)
    root = gitops.repo_root(repo)
    revisions = {
        "baseline": gitops.resolve(repo, options.baseline),
        "candidate": gitops.resolve(repo, options.candidate),
    }
    minutes = estimate_minutes(config) + 5.0
    if minutes > settings.max_duration_min:
        raise InfraError(
            f"max_duration_min: this gate may take {minutes:.0f} min on the cluster, the cap is "
            f"{settings.max_duration_min:g} min (lower [rounds] max or raise the cap)"
        )
    payload = {
        "target": config.to_dict()["target"],
        "master_port": settings.master_port,
        "workers": settings.workers,
        "targets": settings.targets,
        "expect_timeout": 120.0,
    }
    with tempfile.TemporaryDirectory(prefix="perfgate-cluster-") as tmp:
        cluster = make_cluster(backend, settings, Path(tmp) / "nodes")
        settings = getattr(cluster, "settings", settings)
        payload.update(master_port=settings.master_port)
        bundle = make_bundle(
            repo,
            revisions,
            payload,
            Path(tmp) / "bundle",
            cache_dir or (config.root / config.store / "cache" / "wheels"),
        )
        with cluster_session(cluster, settings, bundle, minutes) as handle:
            if progress is not None:
                progress.message(f"cluster {handle.run_id}: {len(handle.nodes)} instances up; waiting for nodes")
            rounds = RemoteRounds(cluster, handle, settings, config, root, boot_timeout)
            try:
                return gate.run_gate(config, root, replace(options), progress, round_runner=rounds.run_round)
            finally:
                rounds.finish()
