"""Whole ``sync_verify`` runs (``dag.test()``) over real PostgreSQL branches and a real
PostgreSQL or MariaDB central database: scattered drift of every kind is found exactly and
classified, repair fixes it through the sync's writer, and a second run is clean."""

from __future__ import annotations

import json

import pytest

from include.branch_sync import tracking as sync_tracking
from include.branch_sync.config import load_config
from include.branch_sync.engine import sync_pair
from include.common.db import Database
from tests.integration.sync_helpers import fetch, run_sql, table_rows, write_config

DAG_FILE = "dags/sync_verify.py"
ROWS = 600
TABLES = [
    {"table": "items", "primary_key": ["id"], "cursor": "updated"},
    {"table": "measures", "primary_key": ["id"], "cursor": "updated"},
    {"table": "codes", "primary_key": ["code"], "single_source": "pgsql_aa"},
]
CODES = ["abc", "ABC", "abc ", "äbc", "Abc  "]


def _populate(conn: str) -> None:
    run_sql(conn,
            "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT, amount NUMERIC(12,2), ratio NUMERIC, "
            "flag BOOLEAN, born DATE, stamp TIMESTAMP, stamptz TIMESTAMPTZ, blob BYTEA, "
            "updated TIMESTAMPTZ NOT NULL)",
            "INSERT INTO items SELECT g, 'label ' || g || CASE WHEN g %% 7 = 0 THEN ' é' ELSE '' END, "
            "(g * 1.25)::numeric(12,2), CASE WHEN g %% 3 = 0 THEN NULL ELSE g / 8.0 END, g %% 2 = 0, "
            "DATE '2025-01-01' + g, TIMESTAMP '2025-01-01 08:00:00.123456' + g * interval '1 hour', "
            "TIMESTAMPTZ '2025-01-01 08:00:00+07' + g * interval '1 minute', "
            "decode(md5(g::text), 'hex'), TIMESTAMPTZ '2025-06-01 00:00:00+00' + g * interval '1 second' "
            f"FROM generate_series(1, {ROWS}) g",
            "CREATE TABLE measures (id INTEGER PRIMARY KEY, val DOUBLE PRECISION, doc JSONB, updated TIMESTAMPTZ NOT NULL)",
            "INSERT INTO measures SELECT g, g / 3.0, jsonb_build_object('n', g, 'name', 'señor ' || g), "
            "TIMESTAMPTZ '2025-06-01 00:00:00+00' FROM generate_series(1, 50) g")
    if conn == "pgsql_aa":
        run_sql("pgsql_aa", "CREATE TABLE codes (code VARCHAR(10) PRIMARY KEY, label TEXT)",
                *["INSERT INTO codes VALUES (%s, %s)"] * len(CODES), params=[(), *[(c, f"of {c!r}") for c in CODES]])


@pytest.fixture
def central(request, pg_database, mariadb_database, connections, tmp_path, monkeypatch, airflow_db):
    kind = getattr(request, "param", "pg")
    uris = {"pgsql_aa": pg_database("aa"), "pgsql_bb": pg_database("bb"),
            "central_db": mariadb_database("central") if kind == "mariadb" else pg_database("central")}
    connections(uris)
    for conn in ("pgsql_aa", "pgsql_bb"):
        _populate(conn)
    path = write_config(tmp_path / "sync.yaml", "central_db", ["pgsql_aa", "pgsql_bb"], TABLES, retries=1,
                        retry_delay_seconds=1, chunk_rows=200)
    monkeypatch.setenv("SYNC_CONFIG", str(path))
    config = load_config()
    with Database("central_db") as db:
        sync_tracking.ensure_schema(db)
    for conn, table in [("pgsql_aa", "items"), ("pgsql_bb", "items"), ("pgsql_aa", "measures"),
                        ("pgsql_bb", "measures"), ("pgsql_aa", "codes")]:
        sync_pair(config, config.table(table), conn)
    return kind


def run(conf=None):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=DAG_FILE)
    assert not bag.import_errors, bag.import_errors
    return bag.dags["sync_verify"].test(run_conf=conf or {})


def rows_of(dag_run):
    rows = fetch("central_db", "SELECT * FROM sync_verifications WHERE run_id = %s", (dag_run.run_id,))
    assert len({r["verification_id"] for r in rows}) == 1
    return {(r["connection_name"], r["table_name"]): r for r in rows}


def counts(row):
    return {k: row[k] for k in ("status", "missing_rows", "extra_rows", "changed_rows", "not_yet_synced",
                                "repaired_rows")}


def sample(row):
    return {(s["kind"], tuple(s["key"].values())) for s in json.loads(row["sample_keys"])}


CLEAN = {"status": "clean", "missing_rows": 0, "extra_rows": 0, "changed_rows": 0, "not_yet_synced": 0,
         "repaired_rows": 0}


def _drift(kind: str) -> None:
    """Scattered drift of every kind in pgsql_aa's rows; pgsql_bb's stay as synced."""
    central_ts = "'2024-01-01 00:00:00'"
    run_sql("pgsql_aa",
            "UPDATE items SET label = 'fixed by hand' WHERE id = 5",  # at the branch, cursor untouched
            "DELETE FROM items WHERE id = 7",  # deleted at the branch (no delete_missing)
            "UPDATE items SET label = 'after the watermark', updated = now() WHERE id = 11",  # not yet synced
            "UPDATE items SET stamp = NULL WHERE id = 15",  # a NULL at the branch
            "UPDATE items SET blob = decode('00ff10', 'hex') WHERE id = 25",  # bytea
            "INSERT INTO items (id, label, updated) VALUES (50001, 'old row never synced', '2020-01-01')",
            "UPDATE measures SET val = val + 0.5 WHERE id = 3")
    run_sql("central_db",
            "INSERT INTO items (sync_branch, id, label, updated) VALUES ('pgsql_aa', 10001, 'extra', "
            f"{central_ts})",
            "UPDATE items SET amount = 999.99 WHERE sync_branch = 'pgsql_aa' AND id = 9",
            "UPDATE items SET label = NULL WHERE sync_branch = 'pgsql_aa' AND id = 13",
            "UPDATE items SET ratio = 2.1250000 WHERE sync_branch = 'pgsql_aa' AND id = 17",  # same value: no drift
            "UPDATE items SET amount = 23.57 WHERE sync_branch = 'pgsql_aa' AND id = 19",  # 23.75 at the branch
            "UPDATE items SET stamptz = stamptz + INTERVAL '1' SECOND WHERE sync_branch = 'pgsql_aa' AND id = 21",
            "UPDATE items SET stamp = stamp + INTERVAL '1' SECOND WHERE sync_branch = 'pgsql_aa' AND id = 23",
            "UPDATE items SET label = CONCAT(label, ' ') WHERE sync_branch = 'pgsql_aa' AND id = 27",  # trailing space
            "UPDATE items SET label = 'label 28 e' WHERE sync_branch = 'pgsql_aa' AND id = 28",  # 'label 28 é' there
            "UPDATE codes SET label = 'edited' WHERE code = 'ABC'")


DRIFTED = {("missing", (50001,)), ("extra", (7,)), ("extra", (10001,)), ("not_yet_synced", (11,))} | {
    ("changed", (i,)) for i in (5, 9, 13, 15, 19, 21, 23, 25, 27, 28)}


@pytest.mark.parametrize("central", ["pg", "mariadb"], indirect=True)
def test_drift_is_found_classified_repaired_and_a_second_run_is_clean(central):
    first = run()
    assert first.state == "success"
    rows = rows_of(first)
    assert set(rows) == {("pgsql_aa", "items"), ("pgsql_bb", "items"), ("pgsql_aa", "measures"),
                         ("pgsql_bb", "measures"), ("pgsql_aa", "codes")}
    for row in rows.values():
        assert counts(row) == CLEAN, row
        assert row["verification_id"].startswith("verify_") and len(row["verification_id"]) == len(
            "verify_20260101_000000_abcdefgh")
    assert rows[("pgsql_aa", "items")]["branch_rows"] == rows[("pgsql_aa", "items")]["central_rows"] == ROWS
    # floats and JSON have no text common to PostgreSQL and MariaDB: that pair is streamed, and says so
    measures = rows[("pgsql_aa", "measures")]
    assert measures["method"] == ("stream" if central == "mariadb" else "checksum"), measures
    assert measures["method"] == "checksum" or "val (float), doc (json)" in measures["note"]

    _drift(central)
    found = rows_of(run())
    items = found[("pgsql_aa", "items")]
    assert counts(items) == {"status": "drift", "missing_rows": 1, "extra_rows": 2, "changed_rows": 10,
                             "not_yet_synced": 1, "repaired_rows": 0}, items
    assert sample(items) == DRIFTED
    changed_columns = {tuple(s["key"].values())[0]: s.get("columns") for s in json.loads(items["sample_keys"])}
    assert changed_columns[19] == ["amount"] and changed_columns[25] == ["blob"] and changed_columns[21] == ["stamptz"]
    assert items["branch_rows"] == ROWS and items["central_rows"] == ROWS + 1
    assert counts(found[("pgsql_aa", "codes")]) == {**CLEAN, "status": "drift", "changed_rows": 1}
    assert sample(found[("pgsql_aa", "codes")]) == {("changed", ("ABC",))}
    assert counts(found[("pgsql_aa", "measures")]) == {**CLEAN, "status": "drift", "changed_rows": 1}
    assert counts(found[("pgsql_bb", "items")]) == CLEAN and counts(found[("pgsql_bb", "measures")]) == CLEAN

    _check_verify_status(items["verification_id"])

    repaired = rows_of(run({"repair": True}))
    assert counts(repaired[("pgsql_aa", "items")]) == {"status": "repaired", "missing_rows": 1, "extra_rows": 2,
                                                       "changed_rows": 10, "not_yet_synced": 1, "repaired_rows": 13}
    assert counts(repaired[("pgsql_aa", "codes")])["repaired_rows"] == 1
    assert counts(repaired[("pgsql_aa", "measures")])["repaired_rows"] == 1
    assert counts(repaired[("pgsql_bb", "items")]) == CLEAN

    again = rows_of(run())
    assert counts(again[("pgsql_aa", "items")]) == {**CLEAN, "not_yet_synced": 1}  # the sync's work, not drift
    for pair, row in again.items():
        if pair != ("pgsql_aa", "items"):
            assert counts(row) == CLEAN, row
    # central holds the branch's rows again (but the one the next sync carries)
    branch = [r for r in table_rows("pgsql_aa", "items", ["id"]) if r["id"] != 11]
    held = [r for r in table_rows("central_db", "items", ["id"], branch="pgsql_aa") if r["id"] != 11]
    assert held == branch
    assert table_rows("central_db", "codes", ["code"]) == table_rows("pgsql_aa", "codes", ["code"])


def test_a_clean_run_after_a_sync_has_nothing_not_yet_synced(central):
    run_sql("pgsql_bb", "UPDATE items SET label = 'moved on', updated = now() WHERE id = 3")
    rows = rows_of(run({"connections": ["pgsql_bb"], "tables": ["items"]}))
    assert list(rows) == [("pgsql_bb", "items")]
    assert counts(rows[("pgsql_bb", "items")]) == {**CLEAN, "not_yet_synced": 1}
    config = load_config()
    sync_pair(config, config.table("items"), "pgsql_bb")
    assert counts(rows_of(run({"connections": ["pgsql_bb"], "tables": ["items"]}))[("pgsql_bb", "items")]) == CLEAN


def test_an_unreachable_branch_fails_only_its_pairs_with_the_reason(central, connections):
    connections({"pgsql_bb": "postgresql://postgres:Sup3rSecretPw@127.0.0.1:1/nowhere"})
    dag_run = run({"tables": ["items"]})
    assert dag_run.state == "failed"
    rows = rows_of(dag_run)
    assert counts(rows[("pgsql_aa", "items")]) == CLEAN
    failed = rows[("pgsql_bb", "items")]
    assert failed["status"] == "failed" and failed["retry_count"] == 1, failed
    assert "Sup3rSecretPw" not in failed["error_message"]
    assert "refused" in failed["error_message"].lower() or "connect" in failed["error_message"].lower()


def _check_verify_status(verification_id):
    """``verify-status``: the latest verification of every table, as JSON and as text."""
    import io

    from include.cli import main

    out, err = io.StringIO(), io.StringIO()
    assert main(["verify-status", "--json"], out=out, err=err) == 0, err.getvalue()
    latest = {(p["connection"], p["table"]): p for p in json.loads(out.getvalue())}
    assert latest[("pgsql_aa", "items")]["verification_id"] == verification_id
    assert (latest[("pgsql_aa", "items")]["status"], latest[("pgsql_aa", "items")]["drift_rows"]) == ("drift", 13)
    assert latest[("pgsql_bb", "items")]["status"] == "clean"
    out = io.StringIO()
    assert main(["verify-status", verification_id, "--color", "never"], out=out, err=err) == 0
    text = out.getvalue()
    assert 'pgsql_aa.codes changed: {"code": "ABC"} (label)' in text and "5 tables, 3 with drift not repaired." in text
    out = io.StringIO()
    assert main(["verify-status", "--runs", "--json"], out=out, err=err) == 0
    assert json.loads(out.getvalue())[0]["status"] == "drift"
    assert main(["verify-status", "verify_20200101_000000_abcdefgh"], out=io.StringIO(), err=err) == 1
    assert "not found in sync_verifications" in err.getvalue()


def test_drift_found_then_repaired_is_told_once_each_and_a_clean_run_tells_nothing(central, webhook_server,
                                                                                   monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_BACKOFFICE_NOTIFICATIONS", json.dumps(
        {"webhook": {"http_conn_id": "ops_webhook", "timeout_seconds": 5}}))
    run({"tables": ["codes"]})
    assert webhook_server.bodies == []  # clean: nothing to tell
    run_sql("central_db", "DELETE FROM codes WHERE code = 'abc '")
    found = rows_of(run({"tables": ["codes"]}))[("pgsql_aa", "codes")]
    repaired = rows_of(run({"tables": ["codes"], "repair": True}))[("pgsql_aa", "codes")]
    assert [(b["event"], b["key"]) for b in webhook_server.bodies] == [
        ("drift", found["verification_id"]), ("repaired", repaired["verification_id"])]
    assert webhook_server.bodies[0]["failed_items"] == [{"name": "pgsql_aa.codes", "reason": "1 missing"}]
    assert webhook_server.bodies[1]["summary"]["repaired_rows"] == 1
    assert "backoffice/verify/" + found["verification_id"] in webhook_server.bodies[0]["text"]
