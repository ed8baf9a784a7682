"""Work units in whole ``branch_sync`` runs (``dag.test()``, real PostgreSQL branches, a real
PostgreSQL or MariaDB central): several tables in one task instance, each with its own tracking,
in-task retries and outcome; packing off gives one table per task instance."""

from __future__ import annotations

import pytest

from tests.integration.branch_sync.test_branch_sync_dag import (  # noqa: F401  (fixture)
    PAIRS, SIZES, TABLES, batch_of, branches, progress, run,
)
from tests.integration.sync_helpers import fetch, run_sql, write_config

# A trigger on the central table that fails the first write after it is armed with a transient
# error (serialization failure), through a sequence: nextval is not rolled back with the write.
_ARM_TRANSIENT = {
    "pg": [
        "CREATE SEQUENCE fail_once",
        "CREATE FUNCTION fail_once() RETURNS trigger AS $$ BEGIN IF nextval('fail_once') = 1 THEN "
        "RAISE EXCEPTION 'could not serialize access (test)' USING ERRCODE = '40001'; END IF; RETURN NEW; END $$ "
        "LANGUAGE plpgsql",
        "CREATE TRIGGER fail_once BEFORE INSERT OR UPDATE ON m_pricelist FOR EACH ROW EXECUTE FUNCTION fail_once()",
    ],
    "mariadb": [
        "CREATE SEQUENCE fail_once",
        "CREATE TRIGGER fail_once BEFORE INSERT ON m_pricelist FOR EACH ROW BEGIN IF NEXTVAL(fail_once) = 1 THEN "
        "SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'Deadlock found (test)'; END IF; END",
    ],
}


def units_of(batch_id: str) -> dict[tuple[str, int], list[str]]:
    """{(task id, map index): tables} as plan recorded them."""
    out: dict[tuple[str, int], list[str]] = {}
    for r in fetch("central_db", "SELECT task_id, map_index, table_name FROM sync_progress WHERE batch_id = %s "
                                 "ORDER BY table_name", (batch_id,)):
        out.setdefault((r["task_id"], r["map_index"]), []).append(r["table_name"])
    return out


@pytest.mark.parametrize("branches", ["pg", "mariadb"], indirect=True)
def test_a_unit_retries_a_transient_table_in_task_fails_a_permanent_one_and_finishes_the_others(branches, request):
    first = run()
    assert first.state == "success"
    # every connection's tables of a step share one unit (small tables, default target)
    assert sorted(units_of(batch_of(first)["batch_id"]).values()) == [
        ["ad_org", "m_product"], ["c_invoice", "c_invoiceline", "m_pricelist"],
        ["c_invoice", "c_invoiceline", "m_pricelist"]]

    flavor = request.node.callspec.params["branches"]
    run_sql("central_db", *_ARM_TRANSIENT[flavor])
    run_sql("central_db", "DELETE FROM m_pricelist WHERE sync_branch = 'pgsql_bb'")  # so the refresh inserts
    run_sql("pgsql_bb", "ALTER TABLE c_invoiceline RENAME TO c_invoiceline_old")  # permanent
    run_sql("pgsql_bb", "UPDATE c_invoice SET updated = now() + interval '1 second' WHERE c_invoice_id <= 3")
    second = run({"connections": ["pgsql_bb"]})
    assert second.state == "failed"  # the unit failed, and the run says so
    batch = batch_of(second)
    rows = progress(batch["batch_id"])
    assert set(rows) == {("pgsql_bb", t) for t in ("c_invoice", "c_invoiceline", "m_pricelist")}
    # the three share one task instance
    assert len({(r["task_id"], r["map_index"]) for r in rows.values()}) == 1
    bad, flaky, fine = (rows[("pgsql_bb", t)] for t in ("c_invoiceline", "m_pricelist", "c_invoice"))
    assert bad["status"] == "failed" and "does not exist" in bad["error_message"] and bad["retry_count"] == 0
    assert flaky["status"] == "completed" and flaky["retry_count"] == 1, flaky  # one in-task retry
    assert flaky["records_processed"] == SIZES["m_pricelist"] and flaky["error_message"] is None
    assert fine["status"] == "completed" and fine["records_processed"] == 3 and fine["retry_count"] == 0
    assert (batch["status"], batch["completed_tables"], batch["failed_tables"]) == ("failed", 2, 1)
    for row in (flaky, fine):
        assert row["sync_mode"] in ("incremental", "full_refresh") and row["duration_seconds"] >= 0

    # sync-status links each table's log to its unit's task instance
    import io
    import json

    from include.cli import main as cli

    out = io.StringIO()
    assert cli(["sync-status", batch["batch_id"], "--json", "--api-conn", "no_such_api"], out=out, err=io.StringIO()) == 0
    logs = {t["table_name"]: t["log"] for t in json.loads(out.getvalue())["tables"]}
    task_id, map_index = bad["task_id"], bad["map_index"]
    assert set(logs.values()) == {f"/dags/branch_sync/runs/{second.run_id}/tasks/{task_id}/mapped/{map_index}"
                                  .replace("+", "%2B").replace(":", "%3A")}
    text = io.StringIO()
    assert cli(["sync-status", batch["batch_id"], "--api-conn", "no_such_api", "--color", "never"], out=text,
               err=io.StringIO()) == 0
    assert f"pgsql_bb.c_invoiceline: {task_id}[{map_index}]" in text.getvalue()

    # resume: only the failed table runs again, the completed ones keep their rows
    run_sql("pgsql_bb", "ALTER TABLE c_invoiceline_old RENAME TO c_invoiceline")
    done_before = {k: r["completed_at"] for k, r in rows.items() if r["status"] == "completed"}
    resumed = run({"resume": batch["batch_id"], "connections": ["pgsql_bb"]})
    assert resumed.state == "success"
    rows = progress(batch["batch_id"])
    assert rows[("pgsql_bb", "c_invoiceline")]["status"] == "completed"
    assert rows[("pgsql_bb", "c_invoiceline")]["retry_count"] == 1
    assert {k: rows[k]["completed_at"] for k in done_before} == done_before


def test_packing_off_gives_each_table_its_own_task_instance(branches, tmp_path, monkeypatch):
    config = write_config(tmp_path / "off.yaml", "central_db", ["pgsql_aa", "pgsql_bb"], TABLES,
                          chunk_rows=150, retries=1, retry_delay_seconds=1, packing=False)
    monkeypatch.setenv("SYNC_CONFIG", str(config))
    dag_run = run()
    assert dag_run.state == "success"
    batch_id = batch_of(dag_run)["batch_id"]
    units = units_of(batch_id)
    assert len(units) == len(PAIRS) and all(len(tables) == 1 for tables in units.values())
    rows = progress(batch_id)
    assert all(r["status"] == "completed" and r["records_processed"] == SIZES[t] for (_, t), r in rows.items())


def test_a_table_with_pack_false_runs_alone_and_history_plans_the_next_run(branches, tmp_path, monkeypatch):
    tables = [dict(t, pack=False) if t["table"] == "c_invoiceline" else t for t in TABLES]
    config = write_config(tmp_path / "pack.yaml", "central_db", ["pgsql_aa", "pgsql_bb"], tables,
                          chunk_rows=150, retries=1, retry_delay_seconds=1)
    monkeypatch.setenv("SYNC_CONFIG", str(config))
    first = run()
    assert first.state == "success"
    units = sorted(units_of(batch_of(first)["batch_id"]).values())
    assert units.count(["c_invoiceline"]) == 2  # alone, on both branches
    assert units.count(["c_invoice", "m_pricelist"]) == 2
    # the second run plans from the first run's durations: every pair has an expected cost from history
    second = run()
    rows = progress(batch_of(second)["batch_id"])
    firsts = progress(batch_of(first)["batch_id"])
    assert all(r["sync_mode"] == "initial" for k, r in firsts.items() if k[1] != "m_pricelist")
    for key, row in rows.items():
        if key[1] != "m_pricelist":  # m_pricelist has no cursor: full refresh, whose history is the first run's
            continue
        assert row["expected_seconds"] == pytest.approx(firsts[key]["duration_seconds"], abs=1e-3)
