"""A fork server for the tests' CLI calls: ``python tests/cliserver.py`` imports the CLI and its
commands once, then forks one child per call, which runs ``perfgate.cli.main`` as
``python -m perfgate.cli`` would, in its own process, directory and environment.

Starting the interpreter and importing perfgate costs 1-3 s per call on a small machine, and the
unit tier makes hundreds of calls; a forked child starts in milliseconds. The server is
single-threaded, so forking it is safe. Requests and replies are one JSON line each on
stdin/stdout: {"args", "cwd", "env", "out", "err", "timeout"} -> {"code"[, "timed_out"]}.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import signal
import sys
import time
import traceback

PRELOAD = (
    "perfgate.cli",
    "perfgate.commands",
    "perfgate.gate",
    "perfgate.report",
    "perfgate.history",
    "perfgate.hooks",
)


def _child(request: dict) -> int:
    os.setsid()  # a timeout kills the call's whole tree, as subprocess.run's caller would see it gone
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, path, mode in (
        (0, os.devnull, os.O_RDONLY),
        (1, request["out"], os.O_WRONLY),
        (2, request["err"], os.O_WRONLY),
    ):
        os.dup2(os.open(path, mode), fd)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 (the process's own descriptors)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    sys.argv = [sys.modules["perfgate.cli"].__file__ or "perfgate", *request["args"]]
    sys.path[0] = request["cwd"]  # as ``python -m`` puts the working directory first
    try:
        from perfgate.cli import main

        code = main(request["args"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # as the interpreter would: the traceback, exit 1
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def _wait(pid: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return {"code": os.waitstatus_to_exitcode(status)}
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"code": -9, "timed_out": True}
        time.sleep(0.005)


def serve() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child(request)
                atexit._run_exitfuncs()  # as the interpreter does at exit
            finally:
                os._exit(code)
        print(json.dumps(_wait(pid, float(request["timeout"]))), flush=True)


if __name__ == "__main__":
    serve()
