"""Paired task streams: both sides of a duet round replay the same task sequence per user."""

from __future__ import annotations

import subprocess
import sys
import textwrap

LOCUSTFILE = textwrap.dedent("""
    from locust import User, task, between

    class Mixed(User):
        wait_time = between(0.05, 0.25)

        @task(5)
        def send(self): pass

        @task(2)
        def history(self): pass

        @task(1)
        def login(self): pass
""")

PROBE = textwrap.dedent("""
    import json, sys
    from locust.env import Environment
    from locust.user.task import DefaultTaskSet
    from perfgate.load.worker import build_user_classes

    spec = {"locustfile": sys.argv[1], "user_classes": ["Mixed"], "users": 3,
            "targets": [{"side": "baseline", "host": "http://a"}, {"side": "candidate", "host": "http://b"}]}
    classes = build_user_classes(spec).all
    env = Environment(user_classes=classes)
    streams = {}
    for cls in classes:
        for k in range(3):
            user = cls(env)
            tasks = DefaultTaskSet(user)
            streams[f"{cls.__name__}/{k}"] = [tasks.get_next_task().__name__ for _ in range(200)]
            streams[f"{cls.__name__}/{k}/waits"] = [user.wait_time() for _ in range(50)]
    print(json.dumps(streams))
""")


def test_kth_users_of_both_sides_draw_the_same_tasks_and_waits_and_different_users_differ(tmp_path):
    locustfile = tmp_path / "mixed.py"
    locustfile.write_text(LOCUSTFILE)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(locustfile)], capture_output=True, text=True, check=True, timeout=60
    )  # Locust patches the process with gevent: a process of its own
    import json

    streams = json.loads(out.stdout.strip().splitlines()[-1])
    for k in range(3):
        assert streams[f"Mixed_000_baseline/{k}"] == streams[f"Mixed_001_candidate/{k}"]
        assert streams[f"Mixed_000_baseline/{k}/waits"] == streams[f"Mixed_001_candidate/{k}/waits"]
    assert streams["Mixed_000_baseline/0"] != streams["Mixed_000_baseline/1"]
    assert streams["Mixed_000_baseline/0/waits"] != streams["Mixed_000_baseline/1/waits"]
    assert all(0.05 <= w <= 0.25 for w in streams["Mixed_000_baseline/0/waits"])
    mix = streams["Mixed_000_baseline/0"]
    assert 0.5 < mix.count("send") / len(mix) < 0.75  # the weights still hold (5/8)


SPAWN_PROBE = textwrap.dedent("""
    import json, sys
    import gevent
    from locust.env import Environment
    from perfgate.load.worker import build_user_classes

    spec = {"locustfile": sys.argv[1], "user_classes": ["Mixed"], "users": 3,
            "targets": [{"side": "candidate", "host": "http://c"}, {"side": "baseline", "host": "http://b"}]}
    classes = build_user_classes(spec).all
    started = []
    for cls in classes:
        cls.on_start = lambda self: started.append(self.host)
    env = Environment(user_classes=classes)
    runner = env.create_local_runner()
    runner.start(6, spawn_rate=6)
    gevent.sleep(2)
    runner.quit()
    print(json.dumps(started))
""")


def test_users_spawn_in_the_rounds_side_order_not_by_side_name(tmp_path):
    """The k-th users of both sides run in step; the round's first side must be the one ahead.
    Locust spawns classes sorted by name, so a name that led with the side would put the
    baseline first in every round, whatever the plan said."""
    locustfile = tmp_path / "mixed.py"
    locustfile.write_text(LOCUSTFILE)
    out = subprocess.run(
        [sys.executable, "-c", SPAWN_PROBE, str(locustfile)], capture_output=True, text=True, check=True, timeout=60
    )
    import json

    started = json.loads(out.stdout.strip().splitlines()[-1])
    assert sorted(started) == ["http://b"] * 3 + ["http://c"] * 3
    candidates = [i for i, host in enumerate(started) if host == "http://c"]
    baselines = [i for i, host in enumerate(started) if host == "http://b"]
    assert all(c < b for c, b in zip(candidates, baselines)), started  # each k-th candidate user first
