"""Acknowledged-write reconciliation: the pure comparison, the ack log, the database query."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfgate.deps.mariadb import MariaDbPair
from perfgate.deps.reconcile import (
    AckKey,
    format_ack_line,
    query_stored_keys,
    read_ack_log,
    reconcile,
)

A1, A2, A3 = AckKey("user0001", 10), AckKey("user0001", 11), AckKey("user0002", 10)


def test_everything_found() -> None:
    result = reconcile([A1, A2, A3], [A3, A2, A1])
    assert (result.acknowledged, result.found, result.lost, result.duplicates) == (3, 3, [], [])
    assert result.ok and result.unacknowledged_stored == 0


def test_missing_acknowledged_write_is_lost() -> None:
    result = reconcile([A1, A2, A3], [A1, A3])
    assert result.lost == [A2] and result.found == 2 and not result.ok
    assert result.to_json()["lost"] == ["user0001:11"]


def test_duplicates_and_unacknowledged_rows() -> None:
    extra = AckKey("user0009", 99)  # stored, but the client never saw its 200
    result = reconcile([A1, A2], [A1, A1, A2, extra])
    assert result.duplicates == [A1] and result.lost == [] and not result.ok
    assert result.unacknowledged_stored == 1


def test_repeated_acks_count_once() -> None:
    assert reconcile([A1, A1], [A1]).acknowledged == 1


def test_ack_log_filters_by_host_and_skips_torn_lines(tmp_path: Path) -> None:
    log = tmp_path / "acks.tsv"
    log.write_text(
        format_ack_line("http://a", "user0001", 10, 1)
        + format_ack_line("http://b", "user0002", 10, 1)
        + format_ack_line("http://a", "user0001", 11, 2)
        + "http://a\tuser00"  # the writer died mid-line
    )
    assert read_ack_log(log) == [A1, A3, A2]
    assert read_ack_log(log, host="http://a") == [A1, A2]
    assert read_ack_log(tmp_path / "missing.tsv") == []


@pytest.mark.e2e  # real mariadbd
def test_planted_lost_write_in_a_real_database(mariadb: MariaDbPair) -> None:
    s = mariadb.settings
    conn = mariadb.primary.connect(user=s.user, password=s.password, database=s.database)
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE messages (id INT AUTO_INCREMENT PRIMARY KEY, sender VARCHAR(64), client_sent_ns BIGINT)"
        )
        cur.executemany(
            "INSERT INTO messages (sender, client_sent_ns) VALUES (%s, %s)",
            [(k.sender, k.client_sent_ns) for k in (A1, A2, A3)],
        )
    acked = [A1, A2, A3]
    stored = query_stored_keys(mariadb.primary.port, s.user, s.password, s.database)
    assert reconcile(acked, stored).ok

    with conn.cursor() as cur:  # plant the loss: an acknowledged row disappears
        cur.execute("DELETE FROM messages WHERE sender = %s AND client_sent_ns = %s", (A2.sender, A2.client_sent_ns))
    conn.close()
    stored = query_stored_keys(mariadb.primary.port, s.user, s.password, s.database)
    result = reconcile(acked, stored)
    assert result.lost == [A2] and result.found == 2
