"""perfgate.deps.mariadb against real mariadbd processes on loopback."""

from __future__ import annotations

from pathlib import Path

import pymysql
import pytest

from perfgate.deps import mariadb as mariadb_module
from perfgate.deps.mariadb import MariaDbError, MariaDbPair, MariaDbSettings
from perfgate.errors import TargetError
from tests.mariadb_fixture import mariadb_processes, require_mariadb


def app_query(pair: MariaDbPair, which: str, sql: str) -> list[dict[str, object]]:
    """Run one statement as the application user on the primary or the replica."""
    server = pair.primary if which == "primary" else pair.replica
    s = pair.settings
    conn = server.connect(user=s.user, password=s.password, database=s.database)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


@pytest.mark.e2e  # real mariadbd
def test_pair_runs_on_loopback_with_own_data_dirs(mariadb: MariaDbPair, tmp_path: Path) -> None:
    assert mariadb.primary.port != mariadb.replica.port
    assert mariadb.primary.running and mariadb.replica.running
    assert {p.pid for p in mariadb_processes(tmp_path / "db")} == {mariadb.primary.pid, mariadb.replica.pid}
    assert mariadb.primary.datadir != mariadb.replica.datadir
    for server in (mariadb.primary, mariadb.replica):
        row = server.query("SELECT @@bind_address AS b, @@port AS p, @@datadir AS d")[0]
        assert row["b"] == "127.0.0.1" and row["p"] == server.port
        assert Path(str(row["d"])).resolve() == server.datadir.resolve()
    assert mariadb.imserver_args() == [
        "--storage",
        "mariadb",
        "--db-primary",
        f"127.0.0.1:{mariadb.primary.port}",
        "--db-replica",
        f"127.0.0.1:{mariadb.replica.port}",
        "--db-user",
        "im",
        "--db-password",
        "im",
        "--db-name",
        "im",
    ]


@pytest.mark.e2e  # real mariadbd
def test_replication_carries_writes_and_replica_is_read_only(mariadb: MariaDbPair) -> None:
    app_query(mariadb, "primary", "CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
    app_query(mariadb, "primary", "INSERT INTO t VALUES (1, 'one'), (2, 'two')")
    mariadb.wait_replica_caught_up()
    assert app_query(mariadb, "replica", "SELECT id, v FROM t ORDER BY id") == [
        {"id": 1, "v": "one"},
        {"id": 2, "v": "two"},
    ]
    status = mariadb.replica_status()
    assert status["Slave_IO_Running"] == "Yes" and status["Slave_SQL_Running"] == "Yes"
    assert status["Using_Gtid"] == "Slave_Pos"
    with pytest.raises(pymysql.err.OperationalError, match="read-only"):
        app_query(mariadb, "replica", "INSERT INTO t VALUES (3, 'three')")


@pytest.mark.e2e  # real mariadbd
def test_kill_and_restart_primary_resumes_replication(mariadb: MariaDbPair) -> None:
    app_query(mariadb, "primary", "CREATE TABLE t (id INT PRIMARY KEY)")
    app_query(mariadb, "primary", "INSERT INTO t VALUES (1)")
    mariadb.wait_replica_caught_up()
    port, old_pid = mariadb.primary.port, mariadb.primary.pid

    mariadb.kill_primary()
    assert not mariadb.primary.running
    assert mariadb.primary.proc is not None and mariadb.primary.proc.returncode == -9
    with pytest.raises(pymysql.err.OperationalError):
        mariadb.primary.connect(timeout_s=1.0)
    # the replica keeps serving what it has
    assert app_query(mariadb, "replica", "SELECT id FROM t") == [{"id": 1}]

    mariadb.restart_primary()
    assert mariadb.primary.port == port and mariadb.primary.pid != old_pid
    assert app_query(mariadb, "primary", "SELECT id FROM t") == [{"id": 1}]  # crash recovery
    app_query(mariadb, "primary", "INSERT INTO t VALUES (2)")
    mariadb.wait_replica_caught_up()
    assert app_query(mariadb, "replica", "SELECT id FROM t ORDER BY id") == [{"id": 1}, {"id": 2}]


@pytest.mark.e2e  # real mariadbd
def test_paused_primary_accepts_tcp_but_never_answers(mariadb: MariaDbPair) -> None:
    mariadb.pause_primary()
    try:
        with pytest.raises(pymysql.err.OperationalError, match="timed out|Lost connection"):
            mariadb.primary.connect(timeout_s=0.5)
    finally:
        mariadb.resume_primary()
    assert mariadb.primary.query("SELECT 1 AS one") == [{"one": 1}]


@pytest.mark.e2e  # real mariadbd
def test_stop_reaps_a_paused_primary(tmp_path: Path) -> None:
    require_mariadb()
    pair = MariaDbPair(tmp_path / "db")
    with pair:
        pair.pause_primary()
    assert mariadb_processes(tmp_path / "db") == []
    assert pair.primary.proc is not None and pair.primary.proc.returncode is not None
    assert pair.replica.proc is not None and pair.replica.proc.returncode is not None


@pytest.mark.e2e  # real mariadbd
def test_failed_start_raises_one_line_error_and_leaves_nothing(tmp_path: Path) -> None:
    require_mariadb()
    settings = MariaDbSettings(extra_args=("--no-such-option-for-perfgate",))
    with pytest.raises(MariaDbError) as caught:
        MariaDbPair(tmp_path / "db", settings).start()
    assert isinstance(caught.value, TargetError)
    message = str(caught.value)
    assert message.startswith("[mariadb] primary exited") and "\n" not in message
    assert "no-such-option-for-perfgate" in message
    assert mariadb_processes(tmp_path / "db") == []


def test_missing_binaries_is_a_target_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mariadb_module, "find_binaries", lambda: None)
    with pytest.raises(MariaDbError, match="install Debian's mariadb-server"):
        MariaDbPair(tmp_path / "db").start()


def test_missing_mariadb_skips_locally_but_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from _pytest.outcomes import Failed, Skipped

    from tests import mariadb_fixture

    monkeypatch.setattr(mariadb_fixture, "find_binaries", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(Failed, match="CI must run the MariaDB tests"):
        mariadb_fixture.require_mariadb()
    monkeypatch.delenv("CI")
    with pytest.raises(Skipped, match="apt-get install mariadb-server"):
        mariadb_fixture.require_mariadb()


@pytest.mark.e2e  # real mariadbd
def test_a_primary_that_cannot_recover_makes_the_round_invalid_not_an_error(mariadb: MariaDbPair) -> None:
    """A killed primary whose data files are gone cannot start again: the rig reports why, in
    one line, so that the gate marks the round invalid (and re-runs it) instead of aborting."""
    from perfgate.model import Side
    from perfgate.rig import SideRig

    rig = SideRig(Side.CANDIDATE, target=None, faults=None, db=mariadb)  # type: ignore[arg-type]
    assert rig.lost_dependency() == ""  # running: nothing to recover
    mariadb.kill_primary()
    assert rig.lost_dependency() == "" and mariadb.primary.running  # a crash it recovers from
    mariadb.kill_primary()
    (mariadb.primary.datadir / "ibdata1").write_bytes(b"")  # the system tablespace, lost
    reason = rig.lost_dependency()
    assert reason.startswith("the candidate side's database primary did not come back: [mariadb] primary exited")
    assert "\n" not in reason and not mariadb.primary.running
