"""Which central tables a completed batch announces (pure part of ``finalize``'s events): one
event per table with a completed pair, with the connections and records that made it."""

from __future__ import annotations

from datetime import datetime, timezone

from include.branch_sync.tasks import tables_to_publish

DONE = datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)


def row(conn: str, table: str, status: str, records: int = 5) -> dict:
    return {"batch_id": "sync_20260504_100000_abcdefgh", "connection_name": conn, "table_name": table,
            "status": status, "completed_at": DONE if status == "completed" else None, "records_processed": records}


def test_one_event_per_table_with_the_branches_that_made_it():
    progress = [row("pgsql_b", "c_invoice", "completed", 7), row("pgsql_a", "c_invoice", "completed", 3),
                row("pgsql_a", "m_product", "completed", 0), row("pgsql_b", "m_product", "skipped"),
                row("pgsql_a", "m_pricelist", "failed")]
    out = tables_to_publish(progress, lambda name: f"central_{name}")
    assert out == {
        "central_c_invoice": {"batch_id": "sync_20260504_100000_abcdefgh", "connections": ["pgsql_a", "pgsql_b"],
                              "records_processed": 10},
        "central_m_product": {"batch_id": "sync_20260504_100000_abcdefgh", "connections": ["pgsql_a"],
                              "records_processed": 0},
    }


def test_nothing_completed_nothing_announced():
    assert tables_to_publish([row("pgsql_a", "t1", "skipped"), row("pgsql_b", "t1", "pending")], str) == {}
