"""The local cloud's hypervisor boots each instance once, however many ticks run at once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import boto3
import psutil

from perfgate.cluster.local import Hypervisor

RUN_ID = "pg-hypervisor-test"
# Each boot appends its shell's pid to a file in the instance's home, then idles.
USER_DATA = 'echo $$ >> "$PERFGATE_HOME/boots"\nexec sleep 60\n'


def test_concurrent_ticks_boot_each_instance_once(moto_url: str, tmp_path: Path) -> None:
    ec2 = boto3.client("ec2", endpoint_url=moto_url, region_name="us-east-1")
    reply = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=3,
        MaxCount=3,
        UserData=USER_DATA,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "perfgate:run-id", "Value": RUN_ID}]}],
    )
    ids = [inst["InstanceId"] for inst in reply["Instances"]]
    hypervisor = Hypervisor(moto_url, "us-east-1", tmp_path)
    boots: dict[str, list[int]] = {}
    try:
        # the gate's watch() ticks in its thread while the hypervisor's loop ticks in its own
        start = threading.Barrier(4)

        def watch() -> None:
            start.wait()
            hypervisor.watch(RUN_ID)

        threads = [threading.Thread(target=watch) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        time.sleep(1.5)  # a few more ticks of the loop
        boots = {iid: _boots(tmp_path / iid) for iid in ids}
        assert all(len(pids) == 1 for pids in boots.values()), boots
    finally:
        hypervisor.close()
    assert not [pid for pids in boots.values() for pid in pids if psutil.pid_exists(pid)]


def _boots(home: Path) -> list[int]:
    for _ in range(50):  # the script may still be starting
        if (home / "boots").exists():
            break
        time.sleep(0.1)
    return [int(line) for line in (home / "boots").read_text().split()]
