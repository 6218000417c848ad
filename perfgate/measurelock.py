"""One gate measures on a machine at a time: a machine-wide file lock held while rounds run.

Two gates measuring at once (a ``perfgate run`` and a background post-commit
hook, say) load the same cores and corrupt each other's timings. The lock is
an ``flock`` on a well-known file (``$PERFGATE_LOCK``, else
``$XDG_RUNTIME_DIR/perfgate-measure.lock``, else ``/tmp/perfgate-measure.lock``)
that holds the pid of the gate measuring. The kernel drops it when that process
dies, however it dies, so a killed gate never leaves the machine locked.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from perfgate.errors import PerfgateError
from perfgate.procs import check_stop

POLL_S = 0.2


class MeasureLockBusy(PerfgateError):
    """Another gate is measuring and the caller would not wait (``--no-wait``)."""


def lock_path() -> Path:
    if os.environ.get("PERFGATE_LOCK"):
        return Path(os.environ["PERFGATE_LOCK"])
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(runtime) if runtime and Path(runtime).is_dir() else Path(tempfile.gettempdir())
    return folder / "perfgate-measure.lock"


def holder(path: Path) -> str:
    """The pid written by the gate holding the lock ("?" if unreadable)."""
    try:
        return path.read_text(encoding="ascii").strip() or "?"
    except (OSError, UnicodeDecodeError):
        return "?"


@contextmanager
def measurement_lock(
    *, wait: bool = True, on_wait: Callable[[str], None] = lambda text: None, path: Path | None = None
) -> Iterator[None]:
    """Hold the machine's measurement lock; wait for it (telling ``on_wait`` once), or raise
    :class:`MeasureLockBusy` at once when ``wait`` is false. Ctrl-C interrupts the wait."""
    path = path or lock_path()
    try:
        handle = open(path, "a+", encoding="ascii")  # noqa: SIM115 - closed by `with handle:` below
    except OSError as exc:
        raise PerfgateError(
            f"{path}: cannot open the measurement lock ($PERFGATE_LOCK): {exc.strerror or exc}"
        ) from exc
    with handle:
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                message = f"another perfgate gate (pid {holder(path)}) is measuring on this machine"
                if not wait:
                    raise MeasureLockBusy(f"{message} (lock {path}); not waiting (--no-wait)") from None
                if not told:
                    on_wait(f"waiting for another perfgate gate (pid {holder(path)}) to finish measuring (lock {path})")
                    told = True
                check_stop()
                time.sleep(POLL_S)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
