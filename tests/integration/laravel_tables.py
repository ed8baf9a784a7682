"""The replaced Laravel system's tables as its migrations made them, on PostgreSQL or MariaDB:
``sync_batches`` / ``sync_progress`` with the columns of seed 002, ``certificate_batches`` /
``certificates`` with those of the contract (seed 000's job), the web app's ``employees`` and
``whatsapp_accounts``; each with Laravel's ``id`` (``bigIncrements``), ``created_at`` /
``updated_at`` (``timestamps()``), ``string`` as varchar(255), ``enum`` (MySQL ENUM, PostgreSQL
varchar with a CHECK), ``json``, ``timestamp`` without fractions. And months of history."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from include.common.db import Database

# Laravel's blueprint types per grammar.
_TYPES = {
    "mysql": {"id": "bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY", "string": "varchar(255)",
              "int": "int", "text": "text", "json": "json", "ts": "timestamp NULL DEFAULT NULL",
              "bool": "tinyint(1)", "bigint": "bigint unsigned"},
    "postgresql": {"id": "bigserial PRIMARY KEY", "string": "varchar(255)", "int": "integer", "text": "text",
                   "json": "json", "ts": "timestamp(0) without time zone NULL", "bool": "boolean",
                   "bigint": "bigint"},
}
SYNC_BATCH_STATUSES = ("running", "completed", "failed", "interrupted")
SYNC_PAIR_STATUSES = ("pending", "in_progress", "completed", "failed", "skipped")


def _enum(dialect: str, column: str, values: tuple[str, ...], default: str) -> str:
    listed = ", ".join(f"'{v}'" for v in values)
    if dialect == "mysql":
        return f"`{column}` enum({listed}) NOT NULL DEFAULT '{default}'"
    return f'"{column}" varchar(255) CHECK ("{column}" IN ({listed})) NOT NULL DEFAULT \'{default}\''


def _create(db: Database, table: str, columns: list[str], after: list[str] | tuple[str, ...] = ()) -> None:
    t = _TYPES[db.dialect.name]
    body = [f"{db.quote('id')} {t['id']}"]
    for spec in columns:
        if spec.startswith("RAW "):
            body.append(spec[4:])
            continue
        name, kind, *rest = spec.split(" ", 2)
        body.append(f"{db.quote(name)} {t.get(kind, kind)}" + (f" {rest[0]}" if rest else ""))
    body += [f"{db.quote('created_at')} {t['ts']}", f"{db.quote('updated_at')} {t['ts']}"]
    options = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci" if db.dialect.name == "mysql" else ""

    def work(cur: Any) -> None:
        cur.execute(f"CREATE TABLE {db.quote(table)} ({', '.join(body)}){options}")
        for statement in after:
            cur.execute(statement)

    db.run(work)


def create_sync_tables(conn_id: str, *, status: str | None = None) -> None:
    """``sync_batches`` and ``sync_progress`` of the Laravel migration (``status``: a column
    definition replacing the batch status enum, to make the table unusable)."""
    with Database(conn_id) as db:
        d = db.dialect.name
        _create(db, "sync_batches", [
            "batch_id string NOT NULL",
            "RAW " + (f"{db.quote('status')} {status}" if status else _enum(d, "status", SYNC_BATCH_STATUSES, "running")),
            "total_tables int NOT NULL DEFAULT 0", "completed_tables int NOT NULL DEFAULT 0",
            "failed_tables int NOT NULL DEFAULT 0", "command_options json NULL", "started_at ts",
            "completed_at ts", "duration_seconds int NULL",
        ], after=[f"ALTER TABLE {db.quote('sync_batches')} ADD CONSTRAINT sync_batches_batch_id_unique "
                  f"UNIQUE ({db.quote('batch_id')})"])
        _create(db, "sync_progress", [
            "batch_id string NOT NULL", "connection_name string NOT NULL", "table_name string NOT NULL",
            "model_name string NOT NULL", "RAW " + _enum(d, "status", SYNC_PAIR_STATUSES, "pending"),
            "records_processed int NOT NULL DEFAULT 0", "records_skipped int NOT NULL DEFAULT 0",
            "error_message text NULL", "started_at ts", "completed_at ts", "duration_seconds int NULL",
            "retry_count int NOT NULL DEFAULT 0",
        ], after=[
            f"CREATE INDEX sync_progress_batch_id_connection_name_table_name_index ON {db.quote('sync_progress')} "
            f"({db.quote('batch_id')}, {db.quote('connection_name')}, {db.quote('table_name')})",
            f"CREATE INDEX sync_progress_status_index ON {db.quote('sync_progress')} ({db.quote('status')})",
            f"ALTER TABLE {db.quote('sync_progress')} ADD CONSTRAINT sync_progress_batch_id_foreign FOREIGN KEY "
            f"({db.quote('batch_id')}) REFERENCES {db.quote('sync_batches')} ({db.quote('batch_id')}) ON DELETE CASCADE",
        ])


PAIRS = [("pgsql_lmp", "ad_org", "AdOrg"), ("pgsql_lmp", "m_product", "MProduct"), ("pgsql_sby", "c_invoice", "CInvoice"),
         ("pgsql_lmp", "c_invoice", "CInvoice"), ("pgsql_sby", "c_order", "COrder"), ("pgsql_lmp", "c_order", "COrder")]


def fill_sync_history(conn_id: str, days: int = 120, end: dt.datetime = dt.datetime(2026, 11, 30, 23, 0)) -> list[str]:
    """One batch a day for ``days`` days up to ``end`` (several months), as the Laravel jobs left
    them: mostly completed, some failed with a reason, some interrupted, the newest still
    ``running`` (the power went out). Returns the batch ids, oldest first."""
    rng = random.Random(20)
    batches, progress, ids = [], [], []
    for n in range(days):
        started = end - dt.timedelta(days=days - 1 - n)
        batch_id = f"sync_{started:%Y%m%d_%H%M%S}_{''.join(rng.choices('abcdefghABCDEFGH0123456789', k=8))}"
        ids.append(batch_id)
        status = "running" if n == days - 1 else "interrupted" if n % 25 == 7 else "failed" if n % 10 == 3 else "completed"
        pair_rows = []
        for i, (conn, table, model) in enumerate(PAIRS):
            pair_status = ("in_progress" if status == "running" and i == 2 else "pending" if status in ("running", "interrupted") and i > 2
                           else "failed" if status == "failed" and i == 4 else "completed")
            done = pair_status in ("completed", "failed")
            began = started + dt.timedelta(minutes=5 * i) if pair_status != "pending" else None
            took = rng.randint(3, 900) if done else None
            progress.append((batch_id, conn, table, model, pair_status, rng.randint(0, 20000) if pair_status == "completed" else 0,
                             rng.randint(0, 50) if pair_status == "completed" else 0,
                             "SQLSTATE[08006] connection timeout" if pair_status == "failed" else None,
                             began, began + dt.timedelta(seconds=took) if done else None, took,
                             1 if pair_status == "failed" else 0, began, began))
            pair_rows.append(pair_status)
        finished = None if status == "running" else started + dt.timedelta(hours=2)
        batches.append((batch_id, status, len(PAIRS), pair_rows.count("completed"), pair_rows.count("failed"),
                        '{"connection": null, "tables": null}', started, finished,
                        7200 if finished else None, started, finished or started))
    with Database(conn_id) as db:
        def work(cur: Any) -> None:
            cur.executemany(
                "INSERT INTO sync_batches (batch_id, status, total_tables, completed_tables, failed_tables, "
                "command_options, started_at, completed_at, duration_seconds, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", batches)
            cur.executemany(
                "INSERT INTO sync_progress (batch_id, connection_name, table_name, model_name, status, "
                "records_processed, records_skipped, error_message, started_at, completed_at, duration_seconds, "
                "retry_count, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                progress)
        db.run(work)
    return ids


def create_certificate_tables(conn_id: str, *, item_status: str | None = None) -> None:
    """``certificate_batches`` / ``certificates`` as the contract names their columns (without
    the bundle's additions), and the web app's ``employees`` with columns of its own."""
    with Database(conn_id) as db:
        d = db.dialect.name
        _create(db, "certificate_batches", [
            "batch_id string NOT NULL", "RAW " + _enum(d, "data_source", ("file", "database"), "file"),
            "source_file string NULL", "total_participants int NOT NULL DEFAULT 0",
            "processed_count int NOT NULL DEFAULT 0", "success_count int NOT NULL DEFAULT 0",
            "failed_count int NOT NULL DEFAULT 0", "progress_percentage decimal(5,2) NOT NULL DEFAULT 0",
            "RAW " + _enum(d, "status", ("pending", "processing", "completed", "completed_with_errors", "failed"), "pending"),
            "error_message text NULL", "started_at ts", "completed_at ts",
        ], after=[f"ALTER TABLE {db.quote('certificate_batches')} ADD CONSTRAINT certificate_batches_batch_id_unique "
                  f"UNIQUE ({db.quote('batch_id')})"])
        _create(db, "certificates", [
            "batch_id string NOT NULL", "row_number int NOT NULL", "participant_name string NULL", "email string NULL",
            "certificate_number string NOT NULL", "verification_token string NOT NULL", "file_path string NULL",
            "RAW " + (f"{db.quote('status')} {item_status}" if item_status else
                      _enum(d, "status", ("pending", "generated", "failed"), "pending")),
            "error_message text NULL", "attempts int NOT NULL DEFAULT 0", "generated_at ts",
        ], after=[
            f"ALTER TABLE {db.quote('certificates')} ADD CONSTRAINT certificates_certificate_number_unique "
            f"UNIQUE ({db.quote('certificate_number')})",
            f"ALTER TABLE {db.quote('certificates')} ADD CONSTRAINT certificates_batch_id_row_number_unique "
            f"UNIQUE ({db.quote('batch_id')}, {db.quote('row_number')})",
        ])
        _create(db, "employees", [
            "nik varchar(20) NOT NULL", "name string NOT NULL", "email string NULL", "phone varchar(20) NULL",
            "position string NULL", "department string NULL", "is_active bool NOT NULL DEFAULT " +
            ("1" if d == "mysql" else "true"),
        ])


def fill_certificate_history(conn_id: str, days: int = 90, end: dt.datetime = dt.datetime(2026, 11, 30, 9, 0)) -> list[str]:
    """A certificate batch every third day with four participants each, and eight employees."""
    rng = random.Random(0)
    batches, items, ids = [], [], []
    for n in range(0, days, 3):
        started = end - dt.timedelta(days=days - n)
        batch_id = f"cert_{started:%Y%m%d_%H%M%S}_{''.join(rng.choices('abcdefgh0123456789', k=8))}"
        ids.append(batch_id)
        failed = 1 if n % 9 == 0 else 0
        for row in range(2, 6):
            bad = failed and row == 5
            items.append((batch_id, row, f"Peserta {n}-{row}", f"p{n}.{row}@example.com",
                          f"CERT-{started:%Y%m%d}-{batch_id[-8:]}-{row:06d}", f"tok{n:04d}{row}{'x' * 20}",
                          None if bad else f"/certificates/{batch_id}/{row}.pdf", "failed" if bad else "generated",
                          "font cannot print the name" if bad else None, 1, None if bad else started, started, started))
        batches.append((batch_id, "file", f"peserta_{n}.csv", 4, 4, 4 - failed, failed, 100,
                        "completed_with_errors" if failed else "completed", started,
                        started + dt.timedelta(minutes=3), started, started))
    employees = [(f"NIK{i:05d}", f"Karyawan {i}", f"k{i}@example.com", f"0812{i:06d}", "Staff", "Ops", i != 8)
                 for i in range(1, 9)]
    with Database(conn_id) as db:
        q = db.quote

        def work(cur: Any) -> None:
            cur.executemany(
                "INSERT INTO certificate_batches (batch_id, data_source, source_file, total_participants, "
                "processed_count, success_count, failed_count, progress_percentage, status, started_at, completed_at, "
                "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", batches)
            cur.executemany(
                f"INSERT INTO certificates (batch_id, {q('row_number')}, participant_name, email, certificate_number, "
                "verification_token, file_path, status, error_message, attempts, generated_at, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", items)
            cur.executemany(
                "INSERT INTO employees (nik, name, email, phone, position, department, is_active) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)", employees)
        db.run(work)
    return ids


def rows(conn_id: str, table: str, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """Every row of ``table`` by ``id`` (only ``columns`` when given), values as Python reads them."""
    with Database(conn_id) as db:
        select = ", ".join(db.quote(c) for c in columns) if columns else "*"
        return db.fetchall(f"SELECT {select} FROM {db.quote(table)} ORDER BY {db.quote('id')}")


def catalog(conn_id: str) -> dict[str, Any]:
    """Every column and index of the database's tables, from the catalog (to show nothing changed)."""
    with Database(conn_id) as db:
        if db.dialect.name == "mysql":
            columns = db.fetchall(
                "SELECT table_name AS t, column_name AS c, column_type AS type, is_nullable AS n, column_default AS d "
                "FROM information_schema.columns WHERE table_schema = DATABASE() ORDER BY 1, 2")
            indexes = db.fetchall("SELECT table_name AS t, index_name AS i, column_name AS c, non_unique AS u "
                                  "FROM information_schema.statistics WHERE table_schema = DATABASE() ORDER BY 1, 2, 3")
        else:
            columns = db.fetchall(
                "SELECT table_name AS t, column_name AS c, data_type AS type, is_nullable AS n, column_default AS d "
                "FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2")
            indexes = db.fetchall("SELECT tablename AS t, indexname AS i, indexdef AS c FROM pg_indexes "
                                  "WHERE schemaname = 'public' ORDER BY 1, 2")
        return {"columns": columns, "indexes": indexes}
