"""Local backends.

:class:`LocalCluster` is this machine behind the cluster interface: Locust's
master and N workers as local processes (see :mod:`perfgate.load.distributed`);
nothing to provision, nothing to pay.

:class:`LocalCloud` is the EC2 backend pointed at a loopback endpoint (moto's
server) plus a small hypervisor that *boots* each instance the API reports: it
runs the very user-data script rendered for EC2 as a local process, with only
the ``PERFGATE_*`` variables adapted (home directory, a loopback IMDSv2
emulator, loopback bind address, pip without the network, and "power off" =
end the process group). When the script powers off, the instance is terminated
through the API (instance-initiated shutdown = terminate); when the API
terminates an instance, its process tree is killed.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from dataclasses import replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import boto3

from perfgate.cluster.base import (
    PORT_SPAN,
    Cluster,
    ClusterHandle,
    ClusterPlan,
    InfraSettings,
    Node,
    PlanRow,
    Reaped,
    RunStatus,
    StepHook,
    new_cluster_run_id,
)
from perfgate.cluster.ec2 import Ec2Cluster
from perfgate.errors import InfraError
from perfgate.procs import stop_tree
from perfgate.target import HOST, free_port

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import InstanceTypeDef


class LocalCluster(Cluster):
    """This machine: a Locust master plus ``workers`` processes; no resources outlive a round."""

    name = "local"

    def plan(self, settings: InfraSettings, rounds_minutes: float, run_id: str = "") -> ClusterPlan:
        cores = os.cpu_count() or 1
        rows = (PlanRow("master", "process", 1, 0, 0.0), PlanRow("worker", "process", settings.workers, 0, 0.0))
        notes = (
            ()
            if settings.workers <= cores
            else (f"{settings.workers} workers on {cores} cores: they will compete for CPU",)
        )
        return ClusterPlan(
            run_id or new_cluster_run_id(),
            rows,
            0.0,
            rounds_minutes,
            0.0,
            {"cores": f"{settings.workers} workers on {cores} cores"},
            notes,
        )

    def up(
        self,
        settings: InfraSettings,
        bundle: dict[str, Path],
        *,
        run_id: str = "",
        minutes: float | None = None,
        on_step: StepHook | None = None,
    ) -> ClusterHandle:
        nodes = (
            Node("local", "master", 0, HOST, "running"),
            *(Node("local", "worker", i, HOST, "running") for i in range(settings.workers)),
        )
        return ClusterHandle(run_id or new_cluster_run_id(), "", "", "", nodes)

    def status(self) -> list[RunStatus]:
        return []  # processes live only within a round (run_load_distributed)

    def down(self, run_id: str) -> Reaped:
        return Reaped()

    def gc(self, now: datetime | None = None) -> Reaped:
        return Reaped()


# --- the local cloud -------------------------------------------------------------


class Imds:
    """A loopback IMDSv2 emulator: ``/{instance-id}/latest/...``, session tokens required."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, str]] = {}
        self.tokens: set[str] = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, code: int, body: str = "") -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self) -> None:
                iid, _, rest = self.path.lstrip("/").partition("/")
                if rest != "latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    return self._reply(400)
                token = secrets.token_hex(16)
                outer.tokens.add(token)
                self._reply(200, token)

            def do_GET(self) -> None:
                if self.headers.get("X-aws-ec2-metadata-token") not in outer.tokens:
                    return self._reply(401)  # IMDSv1 (no token) is refused, as with HttpTokens=required
                iid, _, rest = self.path.lstrip("/").partition("/")
                key = rest.removeprefix("latest/meta-data/")
                value = outer.nodes.get(iid, {}).get(key)
                self._reply(200, value) if value is not None else self._reply(404)

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{HOST}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="perfgate-imds", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Hypervisor:
    """Boots the instances of watched runs as local processes running their user-data."""

    def __init__(self, endpoint: str, region: str, root: Path):
        self.ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name=region)  # its calls are not the backend's
        self.root = root
        self.imds = Imds()
        self.runs: set[str] = set()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.lock = threading.Lock()  # held by each tick: two at once would boot an instance twice
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="perfgate-hypervisor", daemon=True)
        self.thread.start()

    def watch(self, run_id: str) -> None:
        with self.lock:
            self.runs.add(run_id)
        self.tick()

    def _env(self, iid: str) -> dict[str, str]:
        return {
            **os.environ,
            "PERFGATE_LOCAL": "1",
            "PERFGATE_HOME": str(self.root / iid),
            "PERFGATE_IMDS": f"{self.imds.url}/{iid}",
            "PERFGATE_POWEROFF": "kill -TERM 0",
            "PERFGATE_PYTHON": sys.executable,
            "PERFGATE_EXTRA_SITE": sysconfig.get_paths()["purelib"],
            "PERFGATE_PIP_ARGS": "--no-deps --no-index",
            "PERFGATE_BIND_HOST": HOST,
        }

    def tick(self) -> None:
        with self.lock:
            self._tick()

    def _tick(self) -> None:
        runs = sorted(self.runs)
        if not runs:
            return
        pages = self.ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "tag:perfgate:run-id", "Values": runs}]
        )
        for inst in (i for page in pages for r in page["Reservations"] for i in r["Instances"]):
            iid, state = inst["InstanceId"], inst["State"]["Name"]
            proc = self.procs.get(iid)
            if state in ("pending", "running") and proc is None:
                self._boot(inst)
            elif state in ("pending", "running") and proc is not None and proc.poll() is not None:
                self.ec2.terminate_instances(InstanceIds=[iid])  # it powered itself off
            elif state not in ("pending", "running") and proc is not None and proc.poll() is None:
                stop_tree(proc)

    def _boot(self, inst: InstanceTypeDef) -> None:
        import base64

        iid = inst["InstanceId"]
        data = self.ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")
        script = base64.b64decode(data["UserData"]["Value"]).decode()
        home = self.root / iid
        home.mkdir(parents=True, exist_ok=True)
        (home / "user-data.sh").write_text(script)
        self.imds.nodes[iid] = {
            "instance-id": iid,
            "ami-launch-index": str(inst.get("AmiLaunchIndex", 0)),
            "local-ipv4": HOST,
        }
        with open(home / "console.log", "wb") as log:
            self.procs[iid] = subprocess.Popen(
                ["bash", str(home / "user-data.sh")],
                cwd=home,
                env=self._env(iid),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def stop_run(self, run_id: str) -> None:
        with self.lock:  # no tick is under way: none boots this run's instances after this
            self.runs.discard(run_id)
            for iid, proc in list(self.procs.items()):
                if proc.poll() is None and (self.root / iid / "user-data.sh").read_text().find(run_id) >= 0:
                    stop_tree(proc)

    def _loop(self) -> None:
        while not self.stopping.wait(0.5):
            try:
                self.tick()
            except Exception:  # the endpoint went away: the next tick retries, close() ends the loop
                continue

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(10)
        for proc in self.procs.values():
            if proc.poll() is None:
                stop_tree(proc)
        self.imds.close()


def _free_span(span: int) -> int:
    """The first of ``span`` adjacent free loopback ports (the targets rotate over them)."""
    import random

    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 30000 - span)
        socks = []
        try:
            for port in range(base, base + span):
                sock = socket.socket()
                socks.append(sock)
                sock.bind((HOST, port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise InfraError(f"no {span} adjacent free ports on loopback for the targets")


class LocalCloud(Ec2Cluster):
    """The EC2 backend on moto's server, whose instances boot here as processes."""

    name = "local-cloud"

    def __init__(self, settings: InfraSettings, *, workdir: Path | None = None, endpoint_url: str | None = None):
        endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL", "")
        if urlparse(endpoint).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise InfraError(
                "AWS_ENDPOINT_URL: the local cloud runs only against a loopback endpoint (moto's "
                f"server), not {endpoint or 'the real AWS'}"
            )
        settings = replace(settings, master_port=free_port(), target_port=_free_span(PORT_SPAN))
        super().__init__(settings, endpoint_url=endpoint)
        self.endpoint = endpoint
        self.root = workdir or Path(os.environ.get("TMPDIR", "/tmp")) / f"perfgate-local-cloud-{os.getpid()}"
        self.hypervisor: Hypervisor | None = None

    def up(
        self,
        settings: InfraSettings,
        bundle: dict[str, Path],
        *,
        run_id: str = "",
        minutes: float | None = None,
        on_step: StepHook | None = None,
    ) -> ClusterHandle:
        settings = replace(settings, master_port=self.settings.master_port, target_port=self.settings.target_port)
        handle = super().up(settings, bundle, run_id=run_id, minutes=minutes, on_step=on_step)
        if self.hypervisor is None:
            self.hypervisor = Hypervisor(self.endpoint, settings.region, self.root)
        self.hypervisor.watch(handle.run_id)
        return handle

    def down(self, run_id: str) -> Reaped:
        if self.hypervisor is not None:
            self.hypervisor.stop_run(run_id)
        reaped = super().down(run_id)
        if self.hypervisor is not None and not self.hypervisor.runs:
            self.hypervisor.close()
            self.hypervisor = None
        return reaped

    def wait_quiet(self, timeout: float = 30.0) -> bool:
        """True once every booted instance's process has ended (tests use it)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.hypervisor is None or all(p.poll() is not None for p in self.hypervisor.procs.values()):
                return True
            time.sleep(0.2)
        return False
