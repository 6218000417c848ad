"""The one exception tree of perfgate.

Every stage raises a subclass of :class:`PerfgateError` with a one-line,
user-facing message that names the file, key or argument at fault.
Errors from libraries below are wrapped with ``raise ... from``.
Only :mod:`perfgate.cli` maps these to exit codes.

An interruption is not an error class: SIGINT and SIGTERM raise ``KeyboardInterrupt``
(:func:`perfgate.procs.on_signal`), so every ``finally`` unwinds, and the CLI maps it to 130.
"""

from __future__ import annotations


class PerfgateError(Exception):
    """Base of every error perfgate reports to its user."""


class ConfigError(PerfgateError):
    """The configuration file, a key in it, or a command-line argument is invalid."""


class RevisionError(PerfgateError):
    """A git revision cannot be resolved, or the repository is unusable."""


class TargetError(PerfgateError):
    """The system under test failed to start, to become ready, or died."""


class PortInUseError(TargetError):
    """A port the target or a proxy needs is already taken."""


class LiveAbort(PerfgateError):
    """A safety limit of a run against live targets stopped it (the error rate, the request cap)."""


class LoadError(PerfgateError):
    """The load generator failed: a locustfile that does not import, a crashed worker."""


class FaultError(PerfgateError):
    """The fault proxy or a chaos action could not be applied."""


class StoreError(PerfgateError):
    """The result store is unreadable, or a run or round is missing."""


class InfraError(PerfgateError):
    """Provisioning or tearing down a cluster failed."""


class GitHubError(PerfgateError):
    """The GitHub REST API refused or failed a request (the pull-request comment)."""


def os_error_line(exc: OSError) -> str:
    """One line for an OSError that reached the CLI: the path(s) and the system's reason.

    A store or report folder that is read-only, on a full disk, or under a regular file
    fails this way; the line names the path so the user knows which folder to fix.
    """
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    if not paths:
        return f"{type(exc).__name__}: {reason}"
    return f"cannot write or read {' -> '.join(paths)}: {reason}"
