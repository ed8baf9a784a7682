"""The console's data functions on real PostgreSQL and MariaDB give what SQLite gives for the same
rows: batch pages with derived counts, batch details, the history statistics, certificate batches,
WhatsApp accounts and the xlsx export (read back with openpyxl); the PDF reports read back with
pypdf hold the batch id and every row."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import openpyxl
import pytest

from include.common.db import Database
from tests.unit.cli.test_cli import NEW, OLD, populate
from tests.unit.cli.test_export import CERT, EVIL, populate_certificates

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["postgresql", "mysql"])
def server_uri(request: pytest.FixtureRequest) -> str:
    factory = request.getfixturevalue("pg_database" if request.param == "postgresql" else "mariadb_database")
    return factory("console")


def fill_accounts(conn_id: str) -> None:
    from include.health.whatsapp.accounts import add_account, ensure_accounts_table

    with Database(conn_id) as db:
        ensure_accounts_table(db)
        add_account(db, "webjs_1_a", 1, status="connected", phone_number="62811", metadata={"health_missing_count": 1},
                    uuid="u-1")
        add_account(db, "webjs_1_b", 1, status="disconnected", uuid="u-2", metadata={
            "auto_disconnected_at": "2026-12-02T11:00:00.000Z", "reason": "Session not found", "web_key": "kept",
            "reconnect_pending": True, "reconnect_attempts": 1, "last_reconnect_at": "2026-12-02T11:55:00.000Z"})
        add_account(db, "webjs_2_c", 2, status="qr_required", is_active=False, uuid="u-3")


def everything(conn_id: str) -> dict:
    from include.branch_sync import queries, stats
    from include.branch_sync.export import report_sheets as sync_sheets
    from include.certificates import status as cert_status
    from include.certificates.export import report_sheets as cert_sheets
    from include.health.whatsapp.status import whatsapp_status

    with Database(conn_id) as db:
        accounts = whatsapp_status(db, now=NOW)
        for a in accounts["accounts"]:
            a.pop("updated_at")
        return {
            "page": queries.list_batches(db, 50),
            "page2": queries.list_batches(db, 1, 1),
            "running": queries.list_batches(db, 10, status="running"),
            "detail": queries.batch_detail(db, NEW),
            "failed": queries.batch_detail(db, NEW, failed_only=True),
            "stats": stats.sync_stats(db, last=30),
            "stats1": stats.sync_stats(db, last=1, table="ad_org"),
            "certs": [{k: v for k, v in b.items() if k not in ("started_at", "updated_at")}
                      for b in cert_status.list_batches(db)],
            "cert": {k: v for k, v in cert_status.batch_detail(db, CERT).items() if k not in ("started_at", "updated_at")}
            | {"participants": [{k: v for k, v in p.items() if k != "generated_at"}
                                for p in cert_status.batch_detail(db, CERT)["participants"]]},
            "accounts": accounts,
            "sync_rows": [s.rows for s in sync_sheets(db, NEW)],
            "cert_rows": [r[:10] for r in cert_sheets(db, CERT)[1].rows],
        }


def fill(conn_id: str) -> None:
    populate(conn_id)
    populate_certificates(conn_id)
    fill_accounts(conn_id)


def normalize(doc):
    """Timestamps from different drivers (aware, naive, text) as one text form."""
    from include.common.text import iso_utc

    if isinstance(doc, dict):
        return {k: normalize(v) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [normalize(v) for v in doc]
    if isinstance(doc, datetime) or (isinstance(doc, str) and len(doc) >= 19 and doc[4] == "-" and doc[10] in " T"
                                     and doc[:4].isdigit()):
        try:
            return iso_utc(doc)
        except ValueError:
            return doc
    if isinstance(doc, float) and doc.is_integer():
        return int(doc)
    return doc


def test_same_answers_as_sqlite(server_uri, tmp_path, connections):
    connections({"console_lite": f"sqlite:///{tmp_path / 'lite.db'}", "console_server": server_uri})
    fill("console_lite")
    fill("console_server")
    lite, server = everything("console_lite"), everything("console_server")
    for key in lite:
        assert normalize(server[key]) == normalize(lite[key]), key

    page = server["page"]
    assert [b["batch_id"] for b in page] == [NEW, OLD]
    assert (page[0]["completed_tables"], page[0]["failed_tables"], page[0]["pending_tables"],
            page[0]["total_tables"]) == (2, 1, 1, 5)
    assert [b["batch_id"] for b in server["page2"]] == [OLD] and [b["batch_id"] for b in server["running"]] == [NEW]
    assert [t["table_name"] for t in server["failed"]["tables"]] == ["c_order"]
    stats = server["stats"]
    assert stats["batches"] == 2 and stats["slowest_tables"][0]["table_name"] == "m_product"
    assert stats["most_failing_tables"] == [{"table_name": "c_order", "model_name": "COrder", "fail_count": 1,
                                             "avg_retries": 0.0}]
    rate = {r["table_name"]: r["success_rate"] for r in stats["success_rate"]}
    assert rate["ad_org"] == 100.0 and rate["c_order"] == 0.0 and rate["c_invoice"] is None
    assert [p["batch_id"] for p in stats["table_durations"]["ad_org"]] == [OLD, NEW]
    assert list(server["stats1"]["table_durations"]) == ["ad_org"] and server["stats1"]["batches"] == 1
    assert server["cert"]["participants"][1]["participant_name"] == EVIL
    assert (server["certs"][0]["generated_count"], server["certs"][0]["failed_count"],
            server["certs"][0]["pending_count"]) == (2, 1, 1)
    accounts = {a["session_id"]: a for a in server["accounts"]["accounts"]}
    assert accounts["webjs_1_a"]["flap_guard"]["missing_count"] == 1
    assert accounts["webjs_1_b"]["audit"]["reason"] == "Session not found"
    assert accounts["webjs_1_b"]["reconnect"]["state"] == "backing_off"
    assert accounts["webjs_1_b"]["reconnect"]["next_attempt_at"] == "2026-12-02T12:05:00.000Z"
    assert accounts["webjs_2_c"]["is_active"] is False
    assert server["accounts"]["workspaces"] == {"1": {"connected": 1, "disconnected": 1}, "2": {"qr_required": 1}}


def test_xlsx_on_the_server_holds_the_batch(server_uri, connections):
    from include.certificates.export import report_sheets
    from include.common.spreadsheet_export import write_xlsx

    connections({"console_x": server_uri})
    populate_certificates("console_x")
    with Database("console_x") as db:
        buf = io.BytesIO()
        write_xlsx(report_sheets(db, CERT), buf)
        with pytest.raises(LookupError, match="cert_20990101_000000_nOtThErE"):
            report_sheets(db, "cert_20990101_000000_nOtThErE")
    ws = openpyxl.load_workbook(io.BytesIO(buf.getvalue()))["Participants"]
    assert ws.max_row == 5
    assert ws.cell(3, 2).value == EVIL and ws.cell(3, 2).data_type == "s"


def test_pdf_reports_on_the_server_hold_the_batch_and_every_row(server_uri, connections):
    import pypdf

    from include.console.downloads import export_batch

    connections({"console_pdf": server_uri})
    populate("console_pdf")
    populate_certificates("console_pdf")
    with Database("console_pdf") as db:
        sync_pdf, cert_pdf = export_batch(db, "sync", NEW, "pdf"), export_batch(db, "certificates", CERT, "pdf")
        progress = db.fetchall("SELECT connection_name, table_name, model_name FROM sync_progress WHERE batch_id = %s",
                               [NEW])
        people = db.fetchall("SELECT participant_name, error_message FROM certificates WHERE batch_id = %s", [CERT])
        with pytest.raises(LookupError, match="cert_20990101_000000_nOtThErE"):
            export_batch(db, "certificates", "cert_20990101_000000_nOtThErE", "pdf")

    def text(data: bytes) -> str:
        # on one line: a long value wraps within its column
        return " ".join(" ".join(page.extract_text().split()) for page in pypdf.PdfReader(io.BytesIO(data)).pages)

    sync_text, cert_text = text(sync_pdf), text(cert_pdf)
    assert NEW in sync_text and "true as of 2025-11-09 17:34:03 UTC" in sync_text
    assert len(progress) == 5
    for row in progress:
        assert f"{row['connection_name']} {row['table_name']} {row['model_name']}" in sync_text, row
    assert CERT in cert_text and len(people) == 4
    for person in people:
        assert (person["participant_name"] or person["error_message"]) in cert_text, person
