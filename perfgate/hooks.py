"""Git hooks that time every commit: install, uninstall, and what they run.

* **post-commit** measures the new commit against its parent in the
  background. The hook script backgrounds the measurement with every standard
  stream redirected, so ``git commit`` returns at once and can never fail
  because of perfgate; the result goes to the store and one line per event to
  the hook log (``<git dir>/perfgate/hook.log``). Background gates queue on a
  lock, so a burst of commits does not start several gates at once. Commits
  replayed by a rebase are skipped (``perfgate backfill`` times them later).
* **pre-push** gates what is about to be pushed (remote tip → local tip) in the
  foreground and blocks the push on a regression (and on an inconclusive
  verdict when ``[judge] inconclusive = "fail"``), unless installed with
  ``--no-block``. A comparison already measured (same commits, config hash
  and machine fingerprint) is re-judged from the store, not measured again.
  ``git push --no-verify`` skips it, as it skips every pre-push hook. If
  perfgate itself fails, the push is allowed with a warning.

An existing hook is never overwritten: it is renamed ``<hook>.perfgate-chained``
and run first by perfgate's script (with the same arguments and input), and
``perfgate hook uninstall`` puts it back.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import git

from perfgate import gitops
from perfgate.config import Config, load_config
from perfgate.errors import ConfigError, PerfgateError, RevisionError
from perfgate.formatting import verdict_text
from perfgate.gate import GateOptions, GateResult, run_gate
from perfgate.model import Verdict
from perfgate.outcome import Outcome, gate_outcome
from perfgate.progress import Progress
from perfgate.store import open_store
from perfgate.store.query import Measurements, Pooled

HOOKS = ("post-commit", "pre-push")
MARKER = "# perfgate-managed-hook"
CHAINED = ".perfgate-chained"
ZERO_SHA = "0" * 40
#: Gate overrides per profile: (planned pairs, budget); None keeps the config's.
PROFILES: dict[str, tuple[int | None, int | None]] = {"quick": (3, 5), "default": (None, None)}

_POST_COMMIT = """\
#!/bin/sh
{marker}: post-commit
# Written by `perfgate hook install`; `perfgate hook uninstall` removes it and restores any chained hook.
# Measures the new commit in the background: it never blocks or fails the commit.
status=0
if [ -x "$0{chained}" ]; then
    "$0{chained}" "$@" || status=$?
fi
# Commits replayed by a rebase are skipped (time them afterwards with `perfgate backfill`).
rebasing=no
for state in rebase-merge rebase-apply; do
    [ -d "$(git rev-parse --git-path "$state" 2>/dev/null)" ] && rebasing=yes
done
if [ "${{PERFGATE_SKIP_HOOK:-}}" != "1" ] && [ "$rebasing" = no ] &&
        top=$(git rev-parse --show-toplevel 2>/dev/null) && sha=$(git rev-parse HEAD 2>/dev/null); then
    (
        unset GIT_DIR GIT_INDEX_FILE GIT_WORK_TREE GIT_PREFIX GIT_EDITOR
        cd "$top" && exec {command} post-commit --repo "$top" --sha "$sha"{options}
    ) </dev/null >>{log} 2>&1 &
fi
exit $status
"""

_PRE_PUSH = """\
#!/bin/sh
{marker}: pre-push
# Written by `perfgate hook install`; `perfgate hook uninstall` removes it and restores any chained hook.
# Gates the pushed commits; exit 1 (a regression) blocks the push. `git push --no-verify` skips it.
input=$(mktemp) || exit 1
trap 'rm -f "$input"' EXIT
cat >"$input"
if [ -x "$0{chained}" ]; then
    "$0{chained}" "$@" <"$input" || exit $?
fi
[ "${{PERFGATE_SKIP_HOOK:-}}" = "1" ] && exit 0
top=$(git rev-parse --show-toplevel) || exit 0
(
    unset GIT_DIR GIT_INDEX_FILE GIT_WORK_TREE GIT_PREFIX
    cd "$top" && exec {command} pre-push --repo "$top" --remote "$1"{options}
) <"$input"
status=$?
if [ $status -eq 1 ]; then
    echo "perfgate: push blocked by a performance regression (bypass: git push --no-verify)" >&2
    exit 1
fi
[ $status -ne 0 ] && echo "perfgate: the pre-push check did not run to a verdict (exit $status); push allowed" >&2
exit 0
"""


@dataclass(frozen=True)
class HookSettings:
    """What an installed hook passes to ``perfgate hook run``."""

    profile: str = "quick"
    config: Path | None = None
    block: bool = True

    def arguments(self) -> list[str]:
        args = ["--profile", self.profile]
        if self.config is not None:
            args += ["--config", str(self.config)]
        if not self.block:
            args.append("--no-block")
        return args


@dataclass(frozen=True)
class Installed:
    hook: str
    path: Path
    chained: Path | None  # the user's own hook, now run first by perfgate's


def hooks_dir(repo: git.Repo) -> Path:
    """The hooks folder git uses (``core.hooksPath`` honoured)."""
    path = Path(repo.git.rev_parse("--git-path", "hooks"))
    return path if path.is_absolute() else Path(repo.working_tree_dir or repo.git_dir) / path


def state_dir(repo: git.Repo) -> Path:
    """``<git common dir>/perfgate``: the hook log and lock (never in the working tree)."""
    common = Path(repo.git.rev_parse("--git-common-dir"))
    common = common if common.is_absolute() else Path(repo.working_tree_dir or repo.git_dir) / common
    return common / "perfgate"


def log_path(repo: git.Repo) -> Path:
    return state_dir(repo) / "hook.log"


def is_managed(path: Path) -> bool:
    try:
        return MARKER in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def render_script(hook: str, settings: HookSettings, log: Path, python: str = sys.executable) -> str:
    if hook not in HOOKS:
        raise ConfigError(f"hook {hook!r}: perfgate installs only {', '.join(HOOKS)}")
    if settings.profile not in PROFILES:
        raise ConfigError(f"--profile {settings.profile!r}: unknown (known: {', '.join(PROFILES)})")
    # -I: isolated mode. The hook runs in the repository's top folder, and a plain ``python -m``
    # would put it first on sys.path, so a ``rich.py`` (or ``perfgate/``) committed there would
    # run in place of the real module; -I also ignores PYTHON* variables and the user site.
    command = shlex.join([python, "-I", "-m", "perfgate.cli", "hook", "run"])
    options = "".join(" " + shlex.quote(a) for a in settings.arguments())
    template = _POST_COMMIT if hook == "post-commit" else _PRE_PUSH
    return template.format(marker=MARKER, chained=CHAINED, command=command, options=options, log=shlex.quote(str(log)))


def install(repo_dir: Path, hook: str, settings: HookSettings, python: str = sys.executable) -> Installed:
    """Install (or refresh) perfgate's ``hook``; an existing foreign hook is chained, never overwritten."""
    repo = gitops.open_repo(repo_dir)
    if settings.config is not None and not Path(settings.config).is_file():
        raise ConfigError(f"--config {settings.config}: file not found")
    folder = hooks_dir(repo)
    path = folder / hook
    chained = path.with_name(hook + CHAINED)
    script = render_script(hook, settings, log_path(repo), python)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        state_dir(repo).mkdir(parents=True, exist_ok=True)
        if path.exists() and not is_managed(path):
            if chained.exists():
                raise ConfigError(
                    f"{path}: a foreign hook is there and {chained.name} already exists; move one of them away first"
                )
            os.replace(path, chained)
        tmp = path.with_name(f".{hook}.perfgate-tmp")
        tmp.write_text(script, encoding="utf-8")
        tmp.chmod(0o755)
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot install the hook: {exc.strerror or exc}") from exc
    return Installed(hook, path, chained if chained.exists() else None)


def uninstall(repo_dir: Path, hooks: tuple[str, ...] = HOOKS) -> list[Installed]:
    """Remove perfgate's hooks and put chained hooks back; foreign hooks are left alone."""
    repo = gitops.open_repo(repo_dir)
    removed = []
    for hook in hooks:
        path = hooks_dir(repo) / hook
        chained = path.with_name(hook + CHAINED)
        if not is_managed(path):
            continue
        restored = chained.exists()
        try:
            path.unlink()
            if restored:
                os.replace(chained, path)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot uninstall the hook: {exc.strerror or exc}") from exc
        removed.append(Installed(hook, path, path if restored else None))
    return removed


def status(repo_dir: Path) -> dict[str, str]:
    repo = gitops.open_repo(repo_dir)
    out = {}
    for hook in HOOKS:
        path = hooks_dir(repo) / hook
        if is_managed(path):
            chained = path.with_name(hook + CHAINED)
            out[hook] = "installed" + (f" (chains {chained.name})" if chained.exists() else "")
        else:
            out[hook] = "foreign hook" if path.exists() else "not installed"
    return out


# --- what the hooks run ---------------------------------------------------------------


def gate_options(settings: HookSettings, baseline: str, candidate: str, command: str) -> GateOptions:
    rounds, max_rounds = PROFILES[settings.profile]
    return GateOptions(baseline=baseline, candidate=candidate, command=command, rounds=rounds, max_rounds=max_rounds)


def hook_config(repo_dir: Path, settings: HookSettings) -> Config:
    return load_config(settings.config, directory=repo_dir)


def reuse_or_measure(
    config: Config, repo_dir: Path, options: GateOptions, progress: Progress | None = None
) -> tuple[Verdict, str]:
    """The verdict of ``options``' comparison, re-judged from the store when it is already
    decided there (same commits, config hash and fingerprint), else measured by a gate.
    Returns the verdict and where it came from ("stored" or the new run id)."""
    from perfgate.gate import apply_options

    effective = apply_options(config, options)
    repo = gitops.open_repo(repo_dir)
    baseline, candidate = gitops.resolve(repo, options.baseline), gitops.resolve(repo, options.candidate)
    store = open_store(effective.store, effective.root)
    pooled: Pooled = Measurements(store).pooled_verdict(effective, baseline, candidate)
    if pooled.decisive and pooled.verdict is not None:
        return pooled.verdict, "stored"
    result: GateResult = run_gate(config, repo_dir, options, progress)
    return result.verdict, result.run_id


def _log(repo: git.Repo, text: str) -> None:
    path = log_path(repo)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{stamp} {text}\n")


def run_post_commit(repo_dir: Path, sha: str, settings: HookSettings) -> Outcome:
    """Measure ``sha`` against its first parent; log the outcome. Always OK: a commit is never undone."""
    with contextlib.suppress(OSError):
        os.setsid()  # out of the terminal's process group: a Ctrl-C after the commit does not reach it
    repo = gitops.open_repo(repo_dir)
    _log(repo, f"post-commit {sha[:10]} queued pid={os.getpid()}")
    state_dir(repo).mkdir(parents=True, exist_ok=True)
    with open(state_dir(repo) / "hook.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one background gate at a time
        try:
            commit = repo.commit(sha)
            if not commit.parents:
                _log(repo, f"post-commit {sha[:10]} skipped: a root commit has no parent to compare with")
                return Outcome.OK
            config = hook_config(gitops.repo_root(repo), settings)
            options = gate_options(
                settings, commit.parents[0].hexsha, commit.hexsha, f"perfgate hook run post-commit --sha {sha}"
            )
            _log(repo, f"post-commit {sha[:10]} measuring against {commit.parents[0].hexsha[:10]}")
            verdict, source = reuse_or_measure(config, gitops.repo_root(repo), options)
            _log(
                repo,
                f"post-commit {sha[:10]} {verdict.state.value} run={verdict.run_id} ({source}): "
                + verdict_text(verdict),
            )
        except (PerfgateError, ValueError, git.GitError) as exc:
            _log(repo, f"post-commit {sha[:10]} error: {' '.join(str(exc).split())}")
        except KeyboardInterrupt:
            _log(repo, f"post-commit {sha[:10]} interrupted; everything it started has been stopped")
    return Outcome.OK


@dataclass(frozen=True)
class PushUpdate:
    local_ref: str
    local_sha: str
    remote_ref: str
    remote_sha: str


def parse_push(text: str) -> list[PushUpdate]:
    """The lines git writes to a pre-push hook's standard input."""
    updates = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4:
            updates.append(PushUpdate(*parts))
        elif parts:
            raise RevisionError(f"pre-push: unexpected input line {line!r}")
    return updates


def push_baseline(repo: git.Repo, remote: str, update: PushUpdate) -> str | None:
    """What the pushed tip is compared with: the remote's current tip when we have it, else the
    parent of the oldest commit the remote lacks, else the tip's own parent."""
    if update.remote_sha != ZERO_SHA:
        try:
            repo.commit(update.remote_sha)
            return update.remote_sha
        except (ValueError, git.BadName, git.GitCommandError):
            pass
    try:
        new = repo.git.rev_list(update.local_sha, "--not", f"--remotes={remote}").split()
    except git.GitCommandError:
        new = []
    oldest = repo.commit(new[-1]) if new else repo.commit(update.local_sha)
    return oldest.parents[0].hexsha if oldest.parents else None


def run_pre_push(
    repo_dir: Path,
    remote: str,
    stdin_text: str,
    settings: HookSettings,
    report: Callable[[Verdict], None],
    progress: Progress | None = None,
) -> Outcome:
    """Gate each pushed tip; REGRESSION (exit 1) blocks the push: a regression, or an inconclusive
    verdict under a "fail" policy, with ``settings.block``."""

    repo = gitops.open_repo(repo_dir)
    config = hook_config(gitops.repo_root(repo), settings)
    seen: set[tuple[str, str]] = set()
    blocked = False
    for update in parse_push(stdin_text):
        if update.local_sha == ZERO_SHA:
            continue  # a deletion: nothing to time
        baseline = push_baseline(repo, remote, update)
        if baseline is None or baseline == update.local_sha or (baseline, update.local_sha) in seen:
            continue
        seen.add((baseline, update.local_sha))
        options = gate_options(settings, baseline, update.local_sha, f"perfgate hook run pre-push {remote}")
        verdict, source = reuse_or_measure(config, gitops.repo_root(repo), options, progress)
        _log(
            repo,
            f"pre-push {update.local_ref} {baseline[:10]}..{update.local_sha[:10]} "
            f"{verdict.state.value} run={verdict.run_id} ({source})",
        )
        report(verdict)
        if gate_outcome(verdict.state, config.judge.inconclusive) is Outcome.REGRESSION:
            blocked = True
    return Outcome.REGRESSION if blocked and settings.block else Outcome.OK
