"""The on-node agent that the cloud-init script starts: ``python -m perfgate.cluster.agent``.

It never imports Locust: boto3 stays here, and Locust runs in child processes
(:mod:`perfgate.load.dist_worker`). Everything travels through S3 under the
run's prefix, so nothing needs SSH:

    nodes/{role}-{i}.json          the node is installed and ready
    rounds/{seq}/request.json      the controller asks for a round
    rounds/{seq}/targets-{k}.json  target host k: its targets are up (side -> URL)
    rounds/{seq}/master.json       the master listens (address, port, Locust spec)
    rounds/{seq}/result.json       the master's status; samples.parquet beside it
    rounds/{seq}/cpu-worker-{i}.json, resources-{k}.parquet, target-done-{k}.json
    rounds/{seq}/error-{role}-{i}.json   a node's one-line failure
    rounds/{seq}/abort.json, done.json   the controller gives up a round / the run

Every wait is bounded by the run's deadline; the node powers off when the agent exits.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import psutil
from botocore.exceptions import ClientError

from perfgate.codec import load_status_to_dict
from perfgate.config import TargetConfig
from perfgate.errors import TargetError
from perfgate.load.status import read_status
from perfgate.model import LoadStatus, Side
from perfgate.procs import kill_tree
from perfgate.target import ResourceSampler, Target, free_port, run_setup

POLL_S = 0.5


class Deadline(Exception):
    """The run's deadline passed while waiting."""


def post_object(form: dict[str, Any], key: str, body: bytes, attempts: int = 5) -> None:
    """Upload ``body`` to ``key`` through a presigned POST ``form`` ({"url", "fields"}), which S3
    accepts only for keys under the run's own prefix. Retries 5xx answers and network errors."""
    boundary = secrets.token_hex(16)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in {**form["fields"], "key": key}.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="upload"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + body
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    data = b"".join(parts)
    for attempt in range(attempts):
        request = urllib.request.Request(
            form["url"], data=data, method="POST", headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
            return
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or attempt == attempts - 1:
                raise RuntimeError(f"upload of {key} refused: HTTP {exc.code} {exc.read()[:200]!r}") from exc
        except (urllib.error.URLError, OSError):
            if attempt == attempts - 1:
                raise
        time.sleep(min(2.0**attempt, 10.0))


class Agent:
    def __init__(self, args: argparse.Namespace):
        self.role, self.index, self.home = args.role, args.index, Path(args.home)
        self.address, self.instance_id = args.address, args.instance_id
        self.bucket, self.prefix = args.bucket, args.run_prefix
        self.deadline = datetime.strptime(args.deadline, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        self.s3 = boto3.client("s3")
        self.config = json.loads((self.home / "config.json").read_text())
        self.upload_form = json.loads((self.home / "upload.json").read_text())  # the run's presigned POST
        self.bind_host = os.environ.get("PERFGATE_BIND_HOST", "*")

    # --- S3 helpers -----------------------------------------------------------

    def put(self, key: str, data: dict[str, Any]) -> None:
        post_object(self.upload_form, f"{self.prefix}/{key}", json.dumps(data).encode())

    def upload(self, key: str, path: Path) -> None:
        post_object(self.upload_form, f"{self.prefix}/{key}", path.read_bytes())

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=f"{self.prefix}/{key}")["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        data: dict[str, Any] = json.loads(body)  # a JSON object the controller wrote
        return data

    def wait_for(self, *keys: str, until: float | None = None) -> tuple[str, dict[str, Any]]:
        """The first of ``keys`` to appear, with its content; ``done.json`` always ends the wait."""
        end = min(until or self.deadline, self.deadline)
        while time.time() < end:
            for key in (*keys, "done.json"):
                data = self.get(key)
                if data is not None:
                    return key, data
            time.sleep(POLL_S)
        if end >= self.deadline:
            raise Deadline(f"waited for {keys[0]} until the run's deadline")
        return "", {}  # ``until`` passed first

    def fail(self, seq: str, message: str) -> None:
        self.put(f"rounds/{seq}/error-{self.role}-{self.index}.json", {"error": message[:500]})

    # --- the loop -------------------------------------------------------------

    def build(self) -> None:
        """``[target] setup`` in each side's checkout, once before its first start, as a local gate does."""
        target = self.config["target"]
        if self.role != "target" or not target.get("setup"):
            return
        for side in Side:
            src = self.home / "src" / side.value
            log = self.home / f"setup-{side.value}.log"
            timeout = float(target.get("setup_timeout", 600.0))
            run_setup(target["setup"], src, log, timeout, side.value, target.get("env") or {})

    def run(self) -> int:
        node = {"instance_id": self.instance_id, "address": self.address, "t": time.time()}
        try:
            self.build()
        except TargetError as exc:  # the controller reports it and tears the cluster down
            self.put(f"nodes/{self.role}-{self.index}.json", {**node, "state": "failed", "error": str(exc)})
            return 3
        self.put(f"nodes/{self.role}-{self.index}.json", {**node, "state": "ready"})
        handler = {"target": self.target_round, "master": self.master_round, "worker": self.worker_round}[self.role]
        for n in range(100000):
            seq = f"{n:04d}"
            key, request = self.wait_for(f"rounds/{seq}/request.json")
            if key == "done.json":
                return 0
            try:
                handler(seq, request)
            except Deadline:
                raise
            except Exception as exc:  # one line to the controller, then the next round
                self.fail(seq, f"{self.role} {self.index}: {type(exc).__name__}: {exc}")
        return 0

    def target_round(self, seq: str, req: dict[str, Any]) -> None:
        mine = [side for side, host in req["hosts"].items() if host == self.index]
        if not mine:
            return
        known = {f.name for f in fields(TargetConfig)}
        base = {k: v for k, v in self.config["target"].items() if k in known}
        with ExitStack() as stack:
            targets, urls = [], {}
            for side in mine:
                port = int(req["ports"][side])
                config = TargetConfig(**{**base, "port": port})
                target = Target(config, self.home / "src" / side, self.home / "rounds" / seq / side, Side(side), port)
                stack.enter_context(target)
                targets.append(target)
                urls[side] = f"http://{self.address}:{port}"
            samplers = [ResourceSampler(t) for t in targets]
            for sampler in samplers:
                sampler.start()
            self.put(f"rounds/{seq}/targets-{self.index}.json", urls)
            end = time.time() + float(req["timeout_s"])
            while time.time() < end:  # until the master's result (or an abort), checking the targets live
                key, _ = self.wait_for(
                    f"rounds/{seq}/result.json", f"rounds/{seq}/abort.json", until=min(end, time.time() + 2.0)
                )
                for target in targets:
                    target.check_alive()
                if key:
                    break
            import pyarrow as pa
            import pyarrow.parquet as pq

            out = self.home / "rounds" / seq / f"resources-{self.index}.parquet"
            pq.write_table(pa.concat_tables([s.stop() for s in samplers]), out)
            self.upload(f"rounds/{seq}/resources-{self.index}.parquet", out)
        self.put(f"rounds/{seq}/target-done-{self.index}.json", {"ok": True})

    def wait_targets(self, seq: str, req: dict[str, Any]) -> dict[str, str]:
        urls: dict[str, str] = {}
        end = time.time() + float(req["timeout_s"])
        for host in sorted(set(req["hosts"].values())):
            key, data = self.wait_for(f"rounds/{seq}/targets-{host}.json", f"rounds/{seq}/abort.json", until=end)
            if not key.endswith(f"targets-{host}.json"):
                raise RuntimeError(f"target host {host} was not up within {req['timeout_s']:g}s")
            urls.update(data)
        return urls

    def master_round(self, seq: str, req: dict[str, Any]) -> None:
        urls = self.wait_targets(seq, req)
        work = self.home / "rounds" / seq
        work.mkdir(parents=True, exist_ok=True)
        port = int(self.config["master_port"]) or free_port()
        spec = {
            **req["load"],
            "locustfile": str(self.home / "src" / "candidate" / req["load"]["locustfile"]),
            "targets": [{"side": side, "host": urls[side]} for side in req["sides"]],
            "workers": int(self.config["workers"]),
            "master_host": self.address,
            "master_port": port,
            "bind_host": self.bind_host,
            "expect_timeout": float(self.config.get("expect_timeout", 60.0)),
            "out": str(work / "samples.parquet"),
            "status": str(work / "status.json"),
        }
        (work / "spec.json").write_text(json.dumps(spec))
        proc = _spawn(["master", str(work / "spec.json")], work / "master.log")
        try:
            self.put(f"rounds/{seq}/master.json", {"address": self.address, "port": port, "spec": spec})
            proc.wait(float(req["timeout_s"]))
        except subprocess.TimeoutExpired:
            pass
        finally:
            kill_tree(proc, 5)
        status = read_status(work / "status.json") or LoadStatus(
            ok=False, error=f"Locust master exited with code {proc.returncode} and no result"
        )
        if status.ok:
            self.upload(f"rounds/{seq}/samples.parquet", work / "samples.parquet")
        self.put(f"rounds/{seq}/result.json", load_status_to_dict(status))

    def worker_round(self, seq: str, req: dict[str, Any]) -> None:
        key, master = self.wait_for(
            f"rounds/{seq}/master.json", f"rounds/{seq}/abort.json", until=time.time() + float(req["timeout_s"])
        )
        if not key.endswith("master.json"):
            return
        work = self.home / "rounds" / seq
        work.mkdir(parents=True, exist_ok=True)
        spec = {
            **master["spec"],
            "locustfile": str(self.home / "src" / "candidate" / req["load"]["locustfile"]),
            "master_host": master["address"],
            "master_port": master["port"],
            "status": str(work / "status.json"),
        }
        (work / "spec.json").write_text(json.dumps(spec))
        proc = _spawn(["worker", str(work / "spec.json"), str(self.index)], work / "worker.log")
        cpu: list[float] = []
        try:
            meter = psutil.Process(proc.pid)
            meter.cpu_percent(None)
            end = time.time() + float(req["timeout_s"])
            start = time.time()
            while proc.poll() is None and time.time() < end:
                time.sleep(1.0)
                value = meter.cpu_percent(None)
                if time.time() - start > float(req["load"]["warmup"]):
                    cpu.append(value)
        except psutil.Error:
            pass
        finally:
            kill_tree(proc, 5)
        self.put(f"rounds/{seq}/cpu-worker-{self.index}.json", {"cpu": sum(cpu) / len(cpu) if cpu else 0.0})
        if proc.returncode not in (0, None):
            self.fail(seq, f"Locust worker {self.index} exited with code {proc.returncode}")


def _spawn(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "perfgate.load.dist_worker", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds the ExitStacks: targets and Locust children are stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="perfgate.cluster.agent")
    for name in ("role", "home", "address", "instance-id", "bucket", "run-prefix", "deadline"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--index", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return Agent(args).run()
    except Deadline as exc:
        print(f"perfgate agent: {exc}", file=sys.stderr)
        return 4


if __name__ == "__main__":
    sys.exit(main())
