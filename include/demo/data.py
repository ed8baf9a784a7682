"""Generated ERP-like branch data (iDempiere/ADempiere-style tables) for the demo, tests and benchmarks.

Deterministic per (seed, branch): the same call makes the same rows, so tests can compare sources
and target row for row.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from typing import Any

from include.common.db import Cursor, Database
from include.common.db.columns import Column

BASE_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

# Demo column kinds as portable column descriptions; each dialect renders its own DDL type.
_COLUMNS = {
    "id": Column("", "", "int8"), "int": Column("", "", "int4"), "str": Column("", "", "text", length=255),
    "text": Column("", "", "text"), "money": Column("", "", "decimal", precision=14, scale=2),
    "bool": Column("", "", "bool"), "json": Column("", "", "json"), "ts": Column("", "", "timestamptz"),
    "date": Column("", "", "date"),
}

# table -> (columns [(name, type kind)], primary key)
TABLES: dict[str, tuple[list[tuple[str, str]], list[str]]] = {
    "ad_org": ([("ad_org_id", "id"), ("value", "str"), ("name", "str"), ("isactive", "bool"), ("updated", "ts")],
               ["ad_org_id"]),
    "m_product": ([("m_product_id", "id"), ("value", "str"), ("name", "str"), ("price", "money"),
                   ("isactive", "bool"), ("attributes", "json"), ("updated", "ts")], ["m_product_id"]),
    "c_bpartner": ([("c_bpartner_id", "id"), ("name", "str"), ("phone", "str"), ("updated", "ts")],
                   ["c_bpartner_id"]),
    "c_invoice": ([("c_invoice_id", "id"), ("documentno", "str"), ("c_bpartner_id", "id"), ("dateinvoiced", "date"),
                   ("grandtotal", "money"), ("description", "text"), ("updated", "ts")], ["c_invoice_id"]),
    "c_invoiceline": ([("c_invoice_id", "id"), ("line", "int"), ("m_product_id", "id"), ("qty", "int"),
                       ("linenetamt", "money"), ("updated", "ts")], ["c_invoice_id", "line"]),
    "m_pricelist": ([("m_pricelist_id", "id"), ("name", "str"), ("currency", "str")], ["m_pricelist_id"]),
}

_NAMES = ["Budi Santoso", "Siti Nurhaliza", "Ahmad Dahlan", "O'Brien & Sons", 'PT "Maju" Jaya', "Çağlar Öztürk",
          "José Müller", "Nguyễn Văn An", "Łukasz Żółć", "Tab\tand\\backslash", "Line\nbreak"]


def create_tables(db: Database, tables: list[str] | None = None) -> None:
    def work(cur: Cursor) -> None:
        for name in tables or list(TABLES):
            columns, pk = TABLES[name]
            cur.execute(f"DROP TABLE IF EXISTS {db.quote(name)}")
            defs = [f"{db.quote(c)} {db.dialect.column_type(_COLUMNS[k])}" for c, k in columns]
            defs.append(f"PRIMARY KEY ({', '.join(db.quote(c) for c in pk)})")
            cur.execute(f"CREATE TABLE {db.quote(name)} ({', '.join(defs)})")

    db.run(work, what="create demo tables")


def rows_for(table: str, branch_no: int, count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(f"{seed}-{table}-{branch_no}")
    out = []
    for i in range(1, count + 1):
        updated = BASE_TIME + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 300))
        name = rng.choice(_NAMES) + f" {i}"
        if table == "ad_org":
            row = {"ad_org_id": i, "value": f"ORG{i:03d}", "name": f"Cabang {i}", "isactive": True, "updated": updated}
        elif table == "m_product":
            row = {"m_product_id": i, "value": f"P{i:06d}", "name": name, "price": Decimal(rng.randrange(100, 10**7)) / 100,
                   "isactive": rng.random() > 0.1, "attributes": {"uom": rng.choice(["pcs", "box"]), "n": i},
                   "updated": updated}
        elif table == "c_bpartner":
            row = {"c_bpartner_id": i, "name": name, "phone": f"0{rng.randrange(10**9, 10**10)}", "updated": updated}
        elif table == "c_invoice":
            row = {"c_invoice_id": i, "documentno": f"INV/{branch_no}/{i:06d}", "c_bpartner_id": rng.randrange(1, 100),
                   "dateinvoiced": updated.date(), "grandtotal": Decimal(rng.randrange(0, 10**9)) / 100,
                   "description": None if i % 7 == 0 else f"Faktur {name} — ünïcødé ✓", "updated": updated}
        elif table == "c_invoiceline":
            inv, line = divmod(i - 1, 5)
            row = {"c_invoice_id": inv + 1, "line": (line + 1) * 10, "m_product_id": rng.randrange(1, 50),
                   "qty": rng.randrange(1, 20), "linenetamt": Decimal(rng.randrange(0, 10**7)) / 100,
                   "updated": updated}
        elif table == "m_pricelist":
            row = {"m_pricelist_id": i, "name": f"Harga {i}", "currency": "IDR"}
        else:
            raise KeyError(table)
        out.append(row)
    return out


def to_db(db: Database, table: str, row: dict[str, Any]) -> list[Any]:
    """Row values as the given dialect takes them."""
    values = []
    for column, kind in TABLES[table][0]:
        value = row[column]
        if kind == "json" and value is not None:
            value = json.dumps(value)
        elif kind == "ts" and value is not None:
            value = db.ts(value)
        else:
            value = db.dialect.param(value)
        values.append(value)
    return values


def insert_rows(db: Database, table: str, rows: list[dict[str, Any]], batch: int = 5000) -> None:
    columns = [c for c, _ in TABLES[table][0]]
    sql = db.upsert(table, columns, TABLES[table][1])

    def work(cur: Cursor, part: list[dict[str, Any]]) -> None:
        cur.executemany(sql, [to_db(db, table, r) for r in part])

    for i in range(0, len(rows), batch):
        part = rows[i:i + batch]
        db.run(lambda cur: work(cur, part), what=f"insert demo rows into {table}")


def populate(db: Database, branch_no: int, sizes: dict[str, int], seed: int = 7) -> None:
    create_tables(db, list(sizes))
    for table, count in sizes.items():
        insert_rows(db, table, rows_for(table, branch_no, count, seed))
