"""Child processes: started out of Ctrl-C's way, tracked, and always reaped.

The CLI installs :func:`on_signal` for SIGINT and SIGTERM. It sets :data:`STOP`
and raises ``KeyboardInterrupt``, so that every ``finally`` and ``ExitStack``
unwinds and stops what it started. One moment is unsafe: while ``Popen`` waits
for its child's ``exec``, an interrupt would leave a running child that no one
recorded. :func:`spawn` holds the interrupt back until the child is on record,
and :func:`reap_all` stops whatever an interrupted caller never got hold of.
Long loops also poll :func:`check_stop`, because library code can swallow a
``KeyboardInterrupt`` that lands in it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

import psutil

#: Set in the environment of every child: ``<run id>:<pid of the perfgate process that started it>``.
#: ``perfgate gc`` (:mod:`perfgate.leftovers`) stops marked processes whose owner is dead.
OWNER_ENV = "PERFGATE_OWNER"
STOP = threading.Event()
_owner_run = ""  # the run the children started now belong to ("" outside a run)
_holding = False  # the main thread is inside spawn(): an interrupt only sets STOP
_live: set[subprocess.Popen[Any]] = set()  # started by spawn(), perhaps not reaped yet
_lock = threading.Lock()


def on_signal(signum: int, frame: FrameType | None) -> None:
    STOP.set()
    if not _holding:
        raise KeyboardInterrupt


def check_stop() -> None:
    if STOP.is_set():
        raise KeyboardInterrupt


def set_owner_run(run_id: str) -> None:
    """Name the run that children spawned from now on belong to (in their owner marker)."""
    global _owner_run
    _owner_run = run_id


def owner_tag() -> str:
    return f"{_owner_run or '-'}:{os.getpid()}"


def spawn(args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
    """``Popen`` in a session of its own (so a terminal's Ctrl-C reaches perfgate, which
    stops it in order), recorded before any interrupt is let through, and marked with
    :data:`OWNER_ENV` in its environment."""
    global _holding
    env = os.environ if kwargs.get("env") is None else kwargs["env"]
    kwargs["env"] = {**env, OWNER_ENV: owner_tag()}
    main = threading.current_thread() is threading.main_thread()  # only it runs signal handlers
    if main:
        _holding = True
    try:
        proc = subprocess.Popen(args, start_new_session=True, **kwargs)
        with _lock:
            _live.difference_update([p for p in _live if p.returncode is not None])
            _live.add(proc)
    finally:
        if main:
            _holding = False
    if main:
        check_stop()
    return proc


def kill_tree(proc: subprocess.Popen[Any], timeout: float) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left; always reap."""
    kill_trees([proc], timeout)


def kill_trees(procs: Sequence[subprocess.Popen[Any]], timeout: float) -> None:
    """Stop several process groups at once: SIGTERM to all, one deadline for all, then SIGKILL
    whatever is left (stragglers in a group too, even if its leader exited); always reap.
    Stopping N targets that ignore SIGTERM takes one ``timeout``, not N."""
    for proc in procs:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(deadline - time.monotonic(), 0.0))
    for proc in procs:
        _signal_group(proc, signal.SIGKILL)
    deadline = time.monotonic() + 5
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(deadline - time.monotonic(), 0.0))


def stop_processes(procs: Sequence[psutil.Process], timeout: float = 5.0) -> list[int]:
    """Stop processes that are not ours to wait on (orphans, a tree's members in their own
    sessions): SIGTERM all, one deadline, SIGKILL what is left. Returns their pids."""
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)
    return [p.pid for p in procs]


def stop_tree(proc: subprocess.Popen[Any], timeout: float = 5.0) -> None:
    """Stop ``proc`` and every descendant, each signalled alone (children that started their
    own sessions are outside its group), then reap it."""
    try:
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.Error:
        family = []
    stop_processes(family, timeout)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def raise_file_limit() -> None:
    """Lift the soft descriptor limit to the hard one (in a target or a load generator): a
    storm holds thousands of sockets."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def reap_all(timeout: float = 5.0) -> None:
    """Stop every spawned process still running: the last line of cleanup."""
    with _lock:
        running = [p for p in _live if p.poll() is None]
    kill_trees(running, timeout)


def _signal_group(proc: subprocess.Popen[Any], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
