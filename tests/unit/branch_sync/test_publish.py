"""Which central tables a run announces (pure part of ``publish``): tables with a pair completed in
this try of the run, one event each, with the connections and records that made it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from include.branch_sync.tasks import tables_to_publish

START = datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)


def row(conn: str, table: str, status: str, completed: datetime | None, records: int = 5) -> dict:
    return {"batch_id": "sync_20260504_100000_abcdefgh", "connection_name": conn, "table_name": table,
            "status": status, "completed_at": completed, "records_processed": records}


def test_one_event_per_table_completed_in_this_try():
    progress = [
        row("pgsql_b", "c_invoice", "completed", START + timedelta(minutes=2), 7),
        row("pgsql_a", "c_invoice", "completed", START + timedelta(minutes=1), 3),
        row("pgsql_a", "m_product", "completed", START - timedelta(hours=1)),  # an earlier try: announced then
        row("pgsql_b", "m_product", "failed", None),
        row("pgsql_a", "m_pricelist", "pending", None),
        row("pgsql_b", "m_pricelist", "completed", None),  # completed without a time: not provably this try
    ]
    out = tables_to_publish(progress, START, lambda name: name.upper())
    assert out == {"C_INVOICE": {"batch_id": "sync_20260504_100000_abcdefgh", "connections": ["pgsql_a", "pgsql_b"],
                                 "records_processed": 10}}


def test_without_a_start_every_completed_table_is_announced():
    progress = [row("pgsql_a", "m_product", "completed", START - timedelta(hours=1)),
                row("pgsql_a", "c_invoice", "completed", None, 2), row("pgsql_b", "c_invoice", "skipped", None)]
    out = tables_to_publish(progress, None, lambda name: name)
    assert sorted(out) == ["c_invoice", "m_product"] and out["c_invoice"]["connections"] == ["pgsql_a"]


def test_timestamps_as_a_dialect_returns_them_compare_in_utc():
    """MySQL hands back naive UTC, SQLite ISO text: both count as UTC."""
    progress = [row("pgsql_a", "t1", "completed", (START + timedelta(seconds=1)).replace(tzinfo=None)),
                row("pgsql_a", "t2", "completed", "2026-05-04T09:59:59.000000Z")]
    assert list(tables_to_publish(progress, START, lambda name: name)) == ["t1"]
