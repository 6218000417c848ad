"""Real git repositories of the reference IM service with a planted login regression."""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path

import git

AUTHOR = git.Actor("History Test", "history@example.invalid")
SCRYPT_LINE = re.compile(r"^SCRYPT_LOG2N = (\d+)$", re.MULTILINE)

#: The tiny profile: short duet rounds, few pairs, login judged. Logins are ~20% of the
#: requests, so 12 users for 4 s give ~60 per round (8 users for 3 s gave ~30, which fell
#: under 20 on a loaded CI machine): a p50 is judged from 20 up. 40 seeded
#: accounts (the service's default is 200) keep each target's start-up short.
TINY = """\
[target]
command = "{python} -m loadtests.imserver --port {port} --data {data_dir} --users 40"

[load]
locustfile = "loadtests/im.py"
user_classes = ["ChatUser"]
users = 12
spawn_rate = 12
warmup = 1
duration = 4

[rounds]
design = "duet"
count = 3
max = 3

[judge]
margin = 0.10
min_count = 3
"""


def build_im_repo(path: Path, commits: int = 8, regress_at: int = 4, bump: int = 2, config: str = TINY) -> list[str]:
    """``commits`` commits of the IM service; commit ``regress_at`` (0-based) raises the scrypt
    work factor by ``bump`` (2**bump times the login cost); the others touch a notes file.
    Returns the shas, oldest first."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copytree(
        Path(str(resources.files("perfgate.reference"))),
        path / "loadtests",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    (path / "perfgate.toml").write_text(config)
    (path / ".gitignore").write_text(".perfgate/\nreports/\n__pycache__/\n")
    repo = git.Repo.init(path)
    shas = []
    for k in range(commits):
        if k == regress_at:
            auth = path / "loadtests" / "imserver" / "auth.py"
            text = auth.read_text()
            match = SCRYPT_LINE.search(text)
            assert match is not None, "auth.py lost its SCRYPT_LOG2N line"
            auth.write_text(SCRYPT_LINE.sub(f"SCRYPT_LOG2N = {int(match.group(1)) + bump}", text, count=1))
            message = "auth: harden password hashing (scrypt work factor)"
        elif k == 0:
            message = "IM service: scrypt login, WebSocket chat, SQLite history"
        else:
            with open(path / "NOTES.md", "a") as notes:
                notes.write(f"- note {k}\n")
            message = f"docs: note {k}"
        repo.git.add(A=True)
        shas.append(repo.index.commit(message, author=AUTHOR, committer=AUTHOR).hexsha)
    return shas
