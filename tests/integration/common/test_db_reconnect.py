"""Every idempotent write survives the server dropping the connection: KILL / pg_terminate_backend
("MySQL server has gone away", "terminating connection due to administrator command") and an idle
timeout shorter than the pause between two writes."""

from __future__ import annotations

import time

import pytest

from include.common.db import Database


@pytest.fixture(params=["mariadb", "postgresql"])
def db(request, pg_database, mariadb_database, connections):
    connections({"reconnect_db": mariadb_database("rc") if request.param == "mariadb" else pg_database("rc")})
    with Database("reconnect_db", backoff_seconds=0.05) as database:
        database.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")
        database.execute("INSERT INTO t (id, v) VALUES (1, 0)")
        yield database


def _session_id(db: Database) -> int:
    sql = "SELECT CONNECTION_ID() AS i" if db.dialect.name == "mysql" else "SELECT pg_backend_pid() AS i"
    return int(db.fetchone(sql)["i"])


def test_write_after_the_server_killed_the_connection(db):
    victim = _session_id(db)
    with Database("reconnect_db") as admin:
        admin.execute(f"KILL {victim}" if db.dialect.name == "mysql" else f"SELECT pg_terminate_backend({victim})")
    db.execute("UPDATE t SET v = v + 1 WHERE id = 1")  # the held connection is dead: reconnect, retry
    assert _session_id(db) != victim
    assert db.fetchone("SELECT v FROM t WHERE id = 1")["v"] == 1


def test_write_after_an_idle_timeout(db):
    if db.dialect.name == "mysql":
        db.execute("SET SESSION wait_timeout = 1")
    else:
        db.execute("SET SESSION idle_session_timeout = 1000")
    victim = _session_id(db)
    time.sleep(2.5)  # longer than the server lets an idle session live
    db.execute("UPDATE t SET v = v + 5 WHERE id = 1")
    assert _session_id(db) != victim
    assert db.fetchone("SELECT v FROM t WHERE id = 1")["v"] == 5


@pytest.mark.parametrize("local_infile", [False, True])
def test_a_connection_is_looked_up_once_however_often_it_reconnects(db, monkeypatch, local_infile):
    """In a task each lookup is a round trip through the supervisor to the API server: the hook gets
    the connection the Database already holds."""
    from airflow.sdk.bases.hook import BaseHook

    lookups = []
    looked_up = BaseHook.get_connection.__func__

    def counting(cls, conn_id):
        lookups.append(conn_id)
        return looked_up(cls, conn_id)

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(counting))
    with Database("reconnect_db", backoff_seconds=0.05, local_infile=local_infile) as fresh:
        for _ in range(3):
            assert fresh.fetchone("SELECT v FROM t WHERE id = 1")["v"] == 0
            fresh.close()  # the next statement connects again
    assert lookups == ["reconnect_db"]
