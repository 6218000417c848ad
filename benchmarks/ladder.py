"""The regression ladder's repositories: real services, real code changes, one branch each.

Used by ``benchmarks/real_power.py``. Two scratch git repositories are built:

* ``im``: the reference IM service (``loadtests/``) on ``main``, and one branch per
  regression, each a single commit that changes real code:
  ``login5``/``login10``/``login20`` stretch every password hash with PBKDF2 rounds worth
  5/10/20% of a login's scrypt cost; ``send10`` canonicalises and hashes every message
  for an audit trail (10% of the send path's server CPU); ``tail`` compacts an index
  synchronously on the event loop every 64th message (a rare path that stalls everyone).
* ``quotes``: a threaded stdlib JSON API (``examples/quotes``, perfgate's worked example) whose ``/quote`` waits
  45 ms on a downstream feed and then signs the quote; ``quote10``/``quote60`` sign with
  10%/60% more PBKDF2 rounds.

The extra work is sized on this machine (:func:`calibrate`), so "+10%" means 10% of the
path's own CPU here. The branches' commits say what they cost.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import git
import psutil

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
AUTHOR = git.Actor("perfgate ladder", "ladder@perfgate.invalid")


@dataclass(frozen=True)
class Condition:
    name: str
    repo: str  # "im" or "quotes"
    candidate: str  # branch; "main" for A/A
    expect: str  # "green" or "red"
    what: str


CONDITIONS = (
    Condition("im-aa", "im", "main", "green", "IM service A/A"),
    Condition("im-login5", "im", "login5", "red", "IM login CPU +5% (PBKDF2 stretch)"),
    Condition("im-login10", "im", "login10", "red", "IM login CPU +10%"),
    Condition("im-login20", "im", "login20", "red", "IM login CPU +20%"),
    Condition("im-send10", "im", "send10", "red", "IM send path CPU +10% (audit hash)"),
    Condition("im-tail", "im", "tail", "red", "IM tail only: a 25 ms event-loop stall every 64th send"),
    Condition("quotes-aa", "quotes", "main", "green", "quote service A/A"),
    Condition("quotes-cpu10", "quotes", "quote10", "red", "/quote CPU +10% behind a 45 ms wait"),
    Condition("quotes-cpu60", "quotes", "quote60", "red", "/quote CPU +60% behind a 45 ms wait"),
)


def _cpu_s(fn, repeat: int) -> float:
    t = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - t) / repeat


def _ratio(numerator, denominator, repeat: tuple[int, int], trials: int = 9) -> float:
    """Median over interleaved trials of cost(numerator) / cost(denominator): on a shared VM the
    CPU clock itself drifts, so two costs are only comparable when measured side by side."""
    ratios = [_cpu_s(numerator, repeat[0]) / _cpu_s(denominator, repeat[1]) for _ in range(trials)]
    return float(sorted(ratios)[len(ratios) // 2])


def calibrate() -> dict[str, float]:
    """Sizes of the extra work, from this machine's costs of the real operations, and the
    extra CPU each branch then really costs (measured back, interleaved with the original)."""
    sys.path.insert(0, str(PROJECT))
    from perfgate.reference.imserver.auth import SCRYPT_LOG2N, hash_password

    def scrypt() -> None:
        hash_password("pass0001", SCRYPT_LOG2N)

    def pbkdf2_10k() -> None:
        hashlib.pbkdf2_hmac("sha256", b"d" * 32, b"s" * 16, 10_000)

    def extra_pct(rounds: int) -> float:
        stretched = lambda: (scrypt(), hashlib.pbkdf2_hmac("sha256", b"d" * 32, b"s" * 16, rounds))  # noqa: E731
        return 100 * (_ratio(stretched, scrypt, (4, 4)) - 1)

    # Sized at +20%, where the measurement's noise is smallest against the effect (measured
    # back side by side with scrypt alone, and corrected), then scaled down linearly: sizing
    # +5% on its own came out at +2% on a loaded machine.
    rounds = round(0.20 * _ratio(scrypt, pbkdf2_10k, (4, 4)) * 10_000)
    for _ in range(2):
        rounds = round(rounds * 20 / max(extra_pct(rounds), 1.0))
    sizes: dict[str, float] = {}
    for p in (5, 10, 20):
        scaled = round(rounds * p / 20)
        sizes[f"login{p}"], sizes[f"login{p}_measured_pct"] = scaled, round(extra_pct(scaled), 1)
    send_s = measure_send_cpu()
    audit_round_s = _cpu_s(lambda: _audit_round("user0001", "user0002", "hey ok lunch deploy soon", 1), 5000)
    sizes["send10"] = max(1, round(0.10 * send_s / audit_round_s))
    sizes["send_us"] = round(send_s * 1e6)
    sizes["tail"] = round(0.025 / (_cpu_s(pbkdf2_10k, 10) / 10_000))  # about 25 ms of PBKDF2
    return sizes


def _audit_round(sender: str, to: str, body: str, sent_ns: int) -> str:
    """What the send10 branch adds per round: a canonical JSON record, normalised, hashed."""
    import unicodedata

    record = json.dumps(
        {"from": sender, "to": to, "body": unicodedata.normalize("NFKC", body).casefold(), "sent_ns": sent_ns},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(record.encode()).hexdigest()


def measure_send_cpu(sends: int = 1500) -> float:
    """The IM service's own CPU per ``POST /messages``, measured on a real server."""
    with tempfile.TemporaryDirectory(prefix="ladder-cal-") as tmp:
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "perfgate.reference.imserver", "--port", str(port), "--data", tmp],
            cwd=PROJECT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            conn = _wait_http(port)
            token = _post(conn, "/login", {"user": "user0001", "password": "pass0001"})["token"]
            headers = {"Authorization": f"Bearer {token}"}
            body = {"to": "user0002", "body": "hey ok lunch deploy soon", "client_sent_ns": 1}
            for _ in range(100):  # warm up
                _post(conn, "/messages", body, headers)
            server = psutil.Process(proc.pid)
            before = sum(server.cpu_times()[:2])
            for _ in range(sends):
                _post(conn, "/messages", body, headers)
            return (sum(server.cpu_times()[:2]) - before) / sends
        finally:
            proc.kill()
            proc.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(port: int) -> http.client.HTTPConnection:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().read() is not None:
                return conn
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"IM service on port {port} never answered")


def _post(conn: http.client.HTTPConnection, path: str, body: dict, headers: dict | None = None) -> dict:
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}: {data[:200]!r}")
    return json.loads(data)


# --- the repositories ------------------------------------------------------------------------


def _commit(repo: git.Repo, message: str) -> None:
    repo.git.add(A=True)
    repo.index.commit(message, author=AUTHOR, committer=AUTHOR)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if old not in text:
        raise RuntimeError(f"{path}: the ladder's anchor {old!r} is gone; update benchmarks/ladder.py")
    path.write_text(text.replace(old, new, 1))


def _branch(repo: git.Repo, name: str, change, message: str) -> None:
    repo.git.checkout("main")
    repo.git.checkout("-b", name)
    change(Path(repo.working_tree_dir))
    _commit(repo, message)
    repo.git.checkout("main")


def build_im(path: Path, profile: str, sizes: dict[str, int]) -> git.Repo:
    shutil.copytree(PROJECT / "loadtests", path / "loadtests", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (path / "perfgate.toml").write_text(profile)
    (path / ".gitignore").write_text(".perfgate/\nreports/\n__pycache__/\n")
    repo = git.Repo.init(path, initial_branch="main")
    _commit(repo, "IM service: scrypt login, WebSocket chat, SQLite history")

    def stretch(rounds: int):
        def change(root: Path) -> None:
            auth = root / "loadtests" / "imserver" / "auth.py"
            _edit(auth, "def _scrypt(", "def _scrypt_core(")
            auth.write_text(
                auth.read_text()
                + (
                    "\n\nPEPPER_ROUNDS = %d\n\n\ndef _scrypt(password: str, salt: bytes, log2n: int) -> bytes:\n"
                    '    """scrypt, stretched with PBKDF2 rounds."""\n'
                    '    return hashlib.pbkdf2_hmac("sha256", _scrypt_core(password, salt, log2n), salt, '
                    "PEPPER_ROUNDS)\n" % rounds
                )
            )

        return change

    for name, pct in (("login5", 5), ("login10", 10), ("login20", 20)):
        _branch(
            repo,
            name,
            stretch(sizes[name]),
            f"auth: stretch password hashes with {sizes[name]} PBKDF2 rounds (+{pct}% of scrypt's CPU)",
        )

    def audit(root: Path) -> None:
        app = root / "loadtests" / "imserver" / "app.py"
        _edit(
            app,
            "        msg = await self.storage.save_message(sender, to, body, sent_ns)\n        delivered = await",
            "        for _ in range(AUDIT_ROUNDS):\n"
            "            audit_digest(sender, to, body, sent_ns)\n"
            "        msg = await self.storage.save_message(sender, to, body, sent_ns)\n"
            "        delivered = await",
        )
        app.write_text(
            app.read_text()
            + (
                "\n\nAUDIT_ROUNDS = %d\n\n\ndef audit_digest(sender: str, to: str, body: str, sent_ns: int) -> str:\n"
                '    """A canonical, normalised record of a message, hashed for the audit trail."""\n'
                "    import hashlib\n    import unicodedata\n\n"
                '    record = json.dumps({"from": sender, "to": to, "body": unicodedata.normalize("NFKC", body)'
                '.casefold(),\n                         "sent_ns": sent_ns}, sort_keys=True, separators=(",", ":"))\n'
                "    return hashlib.sha256(record.encode()).hexdigest()\n" % sizes["send10"]
            )
        )

    _branch(
        repo,
        "send10",
        audit,
        f"messages: audit every send ({sizes['send10']} canonical-JSON hashes, +10% of the send path's CPU)",
    )

    def compaction(root: Path) -> None:
        app = root / "loadtests" / "imserver" / "app.py"
        _edit(
            app,
            "        delivered = await self.sessions.deliver(to, msg.to_json())\n",
            "        delivered = await self.sessions.deliver(to, msg.to_json())\n"
            "        if msg.id % 64 == 0:\n"
            "            compact_index(msg.id)\n",
        )
        app.write_text(
            app.read_text()
            + (
                "\n\ndef compact_index(upto: int) -> bytes:\n"
                '    """Fold the message index up to ``upto`` into a checkpoint digest, synchronously."""\n'
                "    import hashlib\n\n"
                '    return hashlib.pbkdf2_hmac("sha256", str(upto).encode(), b"index", %d)\n' % sizes["tail"]
            )
        )

    _branch(
        repo,
        "tail",
        compaction,
        f"messages: compact the index every 64th message, on the event loop ({sizes['tail']} PBKDF2 rounds, ~25 ms)",
    )
    return repo


def build_quotes(path: Path, profile: str) -> git.Repo:
    shutil.copytree(PROJECT / "examples" / "quotes", path, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (path / "perfgate.toml").write_text(profile)  # perfgate's default profile, not the example's own
    (path / ".gitignore").write_text(".perfgate/\nreports/\n__pycache__/\n")
    repo = git.Repo.init(path, initial_branch="main")
    _commit(repo, "quote service: priced options, signed quotes behind the market-data feed")
    for name, pct in (("quote10", 10), ("quote60", 60)):
        rounds = round(4000 * (1 + pct / 100))
        _branch(
            repo,
            name,
            lambda root, r=rounds: _edit(root / "service.py", "SIGN_ROUNDS = 4000", f"SIGN_ROUNDS = {r}"),
            f"quotes: sign with {rounds} PBKDF2 rounds (+{pct}% signing CPU)",
        )
    return repo


SERVICES = {
    "im": {
        "target": {"command": "{python} -m loadtests.imserver --port {port} --data {data_dir}"},
        "load": {"locustfile": "loadtests/im.py", "user_classes": ["ChatUser"]},
    },
    "quotes": {
        "target": {
            "command": "{python} service.py --port {port}",
            "ready_path": "/health",
            "metrics_path": "/metrics",
        },
        "load": {"locustfile": "locustfile.py", "user_classes": ["QuoteUser"]},
    },
}


def perfgate_toml(service: str, overrides: dict[str, dict] | None = None) -> str:
    """The service's perfgate.toml as a user writes it (start command, probe, locustfile), plus
    ``overrides`` (table -> key -> value) for trying a lever; everything else is perfgate's default."""
    tables: dict[str, dict] = {k: dict(v) for k, v in SERVICES[service].items()}
    for table, values in (overrides or {}).items():
        tables.setdefault(table, {}).update(values)
    lines = []
    for table, values in tables.items():
        lines.append(f"[{table}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        lines.append("")
    return "\n".join(lines)


def build_all(root: Path, sizes: dict[str, int], overrides: dict[str, dict] | None = None) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = {"im": root / "im", "quotes": root / "quotes"}
    for path in paths.values():
        if path.exists():
            shutil.rmtree(path)
    build_im(paths["im"], perfgate_toml("im", overrides), sizes)
    build_quotes(paths["quotes"], perfgate_toml("quotes", overrides))
    (root / "sizes.json").write_text(json.dumps(sizes, indent=2))
    return paths
