"""A real MariaDB primary and replica for a scenario: ``mariadbd`` processes on loopback.

Each server gets its own data directory (initialised once with ``mariadb-install-db``
and copied), its own free port on 127.0.0.1, and small memory settings. The primary
writes a binlog; the replica follows it by GTID (``MASTER_USE_GTID=slave_pos``), so a
restarted primary is picked up again without any bookkeeping. Chaos actions act on the
primary's real process: :meth:`MariaDbPair.kill_primary` (SIGKILL),
:meth:`MariaDbPair.pause_primary` (SIGSTOP: it still accepts TCP, but never answers) and
:meth:`MariaDbPair.restart_primary` (same data directory and port).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pymysql.cursors

from perfgate.errors import TargetError
from perfgate.procs import spawn
from perfgate.target import free_port

HOST = "127.0.0.1"
ADMIN_USER = "root"  # created by mariadb-install-db without a password; loopback only
REPL_USER = "repl"
REPL_PASSWORD = "repl-pass"
_SEARCH_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")


class MariaDbError(TargetError):
    """A database server of the scenario failed to install, start, replicate or stop."""


@dataclass(frozen=True, slots=True)
class MariaDbSettings:
    """What the scenario's database looks like; the defaults suit a 2-core laptop."""

    database: str = "im"
    user: str = "im"
    password: str = "im"
    buffer_pool: str = "16M"
    ready_timeout_s: float = 30.0
    slave_net_timeout_s: int = 5  # the replica notices a hung primary after this
    extra_args: tuple[str, ...] = ()  # appended to both servers' command lines


@dataclass(frozen=True, slots=True)
class Binaries:
    mariadbd: Path
    install_db: Path


def find_binaries() -> Binaries | None:
    """Debian's ``mariadbd`` and ``mariadb-install-db``, or None if either is missing."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SEARCH_DIRS])
    server = shutil.which("mariadbd", path=path)
    install = shutil.which("mariadb-install-db", path=path)
    if server is None or install is None:
        return None
    return Binaries(Path(server), Path(install))


def _require_binaries() -> Binaries:
    found = find_binaries()
    if found is None:
        raise MariaDbError("[mariadb] mariadbd or mariadb-install-db not found: install Debian's mariadb-server")
    return found


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


class MariaDbServer:
    """One ``mariadbd`` process with its own data directory, port and log."""

    def __init__(
        self,
        name: str,
        binary: Path,
        datadir: Path,
        rundir: Path,
        server_id: int,
        args: list[str],
        ready_timeout_s: float,
    ) -> None:
        self.name = name
        self.binary = binary
        self.datadir = datadir
        self.server_id = server_id
        self.port = free_port()
        self.log = datadir.parent / f"{name}.err"
        self.socket = rundir / f"{name}.sock"  # short path: sockets are limited to ~100 bytes
        self.tmpdir = rundir  # private: not the shared /tmp, where another process may clean up
        self.args = args
        self.ready_timeout_s = ready_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        cmd = [
            str(self.binary),
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--port={self.port}",
            f"--bind-address={HOST}",
            f"--socket={self.socket}",
            f"--pid-file={self.datadir / 'mariadbd.pid'}",
            f"--tmpdir={self.tmpdir}",
            f"--log-error={self.log}",
            f"--server-id={self.server_id}",
            "--skip-name-resolve",
            "--performance-schema=OFF",
            "--max-connections=300",
            "--innodb-log-file-size=8M",
            "--key-buffer-size=1M",
            *self.args,
        ]
        if os.geteuid() == 0:
            cmd.append("--user=root")  # mariadbd refuses to run as root otherwise
        return cmd

    def start(self) -> None:
        """Start the process (same port and data directory every time) and wait until ready."""
        if self.running:
            raise MariaDbError(f"[mariadb] {self.name} is already running")
        with self.log.open("ab") as out:
            try:
                self.proc = spawn(self.command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            except OSError as exc:
                raise MariaDbError(f"[mariadb] cannot start {self.name}: {exc}") from exc
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            if self.proc is None or self.proc.poll() is not None:
                code = self.proc.returncode if self.proc else None
                raise MariaDbError(f"[mariadb] {self.name} exited ({code}) while starting: {_log_tail(self.log)}")
            try:
                self.connect(timeout_s=1.0).close()
                return
            except pymysql.MySQLError:
                pass
            if time.monotonic() > deadline:
                raise MariaDbError(
                    f"[mariadb] {self.name} not ready on port {self.port} within "
                    f"{self.ready_timeout_s:g}s: {_log_tail(self.log)}"
                )
            time.sleep(0.1)

    def connect(
        self, user: str = ADMIN_USER, password: str = "", database: str | None = None, timeout_s: float = 5.0
    ) -> pymysql.connections.Connection[pymysql.cursors.DictCursor]:
        """A new client connection over loopback TCP (autocommit, bounded timeouts)."""
        return pymysql.connect(
            host=HOST,
            port=self.port,
            user=user,
            password=password,
            database=database,
            autocommit=True,
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            write_timeout=timeout_s,
            cursorclass=pymysql.cursors.DictCursor,
        )

    def query(self, sql: str, args: tuple[object, ...] | None = None, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """Run one statement as the admin user; rows as dicts."""
        try:
            conn = self.connect(timeout_s=timeout_s)
        except pymysql.MySQLError as exc:
            raise MariaDbError(f"[mariadb] cannot connect to {self.name} on port {self.port}: {exc}") from exc
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        except pymysql.MySQLError as exc:
            raise MariaDbError(f"[mariadb] {self.name}: {sql.split()[0]} failed: {exc}") from exc
        finally:
            conn.close()

    def send_signal(self, sig: int) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL, then reap: the data directory is left as a crash left it."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Clean shutdown (SIGTERM, after SIGCONT in case it was paused); SIGKILL if it lingers."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait()


class MariaDbPair:
    """A primary and a replica following it. Use as a context manager; stop() always reaps.

    >>> with MariaDbPair(tmp_dir) as db:
    ...     db.primary.port, db.replica.port, db.primary.pid
    ...     db.kill_primary(); db.restart_primary()
    """

    def __init__(self, workdir: Path, settings: MariaDbSettings | None = None) -> None:
        self.workdir = Path(workdir)
        self.settings = settings or MariaDbSettings()
        self._rundir: Path | None = None
        self.primary: MariaDbServer
        self.replica: MariaDbServer

    def __enter__(self) -> MariaDbPair:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """Install, start both servers, create the database and user, and start replication."""
        binaries = _require_binaries()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._rundir = Path(tempfile.mkdtemp(prefix="pgdb-"))
        template = self.workdir / "template"
        _install(binaries.install_db, template, self._rundir)
        s = self.settings
        common = [f"--innodb-buffer-pool-size={s.buffer_pool}", *s.extra_args]
        primary_args = [
            "--log-bin=primary-bin",
            "--binlog-format=ROW",
            "--sync-binlog=1",
            "--innodb-flush-log-at-trx-commit=1",
            *common,
        ]
        replica_args = [
            "--read-only=1",
            "--relay-log=replica-relay-bin",
            f"--slave-net-timeout={s.slave_net_timeout_s}",
            *common,
        ]
        servers = []
        for name, server_id, args in (("primary", 1, primary_args), ("replica", 2, replica_args)):
            datadir = self.workdir / name
            if datadir.exists():
                shutil.rmtree(datadir)
            shutil.copytree(template, datadir)
            servers.append(
                MariaDbServer(name, binaries.mariadbd, datadir, self._rundir, server_id, args, s.ready_timeout_s)
            )
        self.primary, self.replica = servers
        try:
            self.primary.start()
            self.replica.start()
            self._configure()
        except BaseException:
            self.stop()
            raise

    def _configure(self) -> None:
        s = self.settings
        for sql, args in (
            (f"CREATE USER '{REPL_USER}'@'{HOST}' IDENTIFIED BY %s", (REPL_PASSWORD,)),
            (f"GRANT REPLICATION SLAVE ON *.* TO '{REPL_USER}'@'{HOST}'", None),
            (f"CREATE DATABASE `{s.database}` CHARACTER SET utf8mb4", None),
            (f"CREATE USER '{s.user}'@'{HOST}' IDENTIFIED BY %s", (s.password,)),
            (f"GRANT ALL ON `{s.database}`.* TO '{s.user}'@'{HOST}'", None),
        ):
            self.primary.query(sql, args)
        self.replica.query(
            "CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER=%s,"
            " MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
            (HOST, self.primary.port, REPL_USER, REPL_PASSWORD),
        )
        self.replica.query("START SLAVE")
        self.wait_replica_caught_up()

    def stop(self) -> None:
        """Stop both servers (whatever state they are in) and remove the socket directory."""
        for server in (getattr(self, "replica", None), getattr(self, "primary", None)):
            if server is not None:
                server.stop()
        if self._rundir is not None:
            shutil.rmtree(self._rundir, ignore_errors=True)
            self._rundir = None

    # -- chaos actions on the primary ------------------------------------------

    def kill_primary(self) -> None:
        """SIGKILL the primary and reap it (a crash: no clean shutdown)."""
        self.primary.kill()

    def pause_primary(self) -> None:
        """SIGSTOP the primary: connections are accepted by the kernel but never answered."""
        self.primary.send_signal(signal.SIGSTOP)

    def resume_primary(self) -> None:
        self.primary.send_signal(signal.SIGCONT)

    def restart_primary(self) -> None:
        """Start the primary again on the same port and data directory (crash recovery runs).

        The replica reconnects by itself (MASTER_CONNECT_RETRY=1) and resumes from its GTID.
        """
        if self.primary.running:
            self.primary.kill()
        self.primary.start()

    # -- observation ---------------------------------------------------------------

    def imserver_args(self, primary_address: str | None = None) -> list[str]:
        """The reference IM service's flags for this pair.

        ``primary_address`` (``HOST:PORT``) replaces the primary's own, e.g. with a fault
        proxy's listening address that forwards to ``self.primary.address``.
        """
        s = self.settings
        return [
            "--storage",
            "mariadb",
            "--db-primary",
            primary_address or self.primary.address,
            "--db-replica",
            self.replica.address,
            "--db-user",
            s.user,
            "--db-password",
            s.password,
            "--db-name",
            s.database,
        ]

    def replica_status(self) -> dict[str, Any]:
        """``SHOW SLAVE STATUS`` of the replica (Slave_IO_Running, Last_IO_Error, ...)."""
        rows = self.replica.query("SHOW SLAVE STATUS")
        return rows[0] if rows else {}

    def wait_replica_caught_up(self, timeout_s: float = 30.0) -> None:
        """Wait until the replica has applied everything the primary has in its binlog."""
        pos = self.primary.query("SELECT @@gtid_binlog_pos AS pos")[0]["pos"]
        rows = self.replica.query("SELECT MASTER_GTID_WAIT(%s, %s) AS r", (pos, timeout_s), timeout_s=timeout_s + 5)
        if rows[0]["r"] != 0:
            status = self.replica_status()
            raise MariaDbError(
                f"[mariadb] replica did not reach {pos!r} within {timeout_s:g}s "
                f"(io={status.get('Slave_IO_Running')}, sql={status.get('Slave_SQL_Running')}, "
                f"error={status.get('Last_IO_Error') or status.get('Last_SQL_Error')!r})"
            )


def _install(install_db: Path, datadir: Path, tmpdir: Path) -> None:
    """Create a fresh data directory with the system tables (root without a password)."""
    if datadir.exists():
        shutil.rmtree(datadir)
    cmd = [
        str(install_db),
        "--no-defaults",
        f"--datadir={datadir}",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        "--skip-name-resolve",
        "--innodb-log-file-size=8M",
        f"--tmpdir={tmpdir}",
        "--innodb-flush-method=nosync",
    ]  # a template, copied before use: no fsync needed
    if os.geteuid() == 0:
        cmd.append("--user=root")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MariaDbError(f"[mariadb] mariadb-install-db failed: {exc}") from exc
    if done.returncode != 0:
        tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        raise MariaDbError(f"[mariadb] mariadb-install-db exited {done.returncode}: {tail}")
