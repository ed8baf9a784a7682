"""The embedded demo: SQLite databases with generated data and the stand-in WhatsApp service.

``python -m include.demo env`` prints the environment (connections as JSON ``AIRFLOW_CONN_*``
variables, ``SYNC_CONFIG``) for a shell to ``eval``; ``python -m include.demo generate`` (re)creates
the branch files. ``scripts/demo.sh`` runs both, then the DAG.
"""

from __future__ import annotations

import json
import shlex
import sys

from include.branch_sync.config import load_config
from include.common.conn_ids import APP_DB
from include.common.db import Database
from include.common.paths import REPO_ROOT
from include.demo import data as demo_data
from include.health.whatsapp.accounts import add_account, ensure_accounts_table

DEMO_DIR = REPO_ROOT / "data" / "demo"
DEMO_CONFIG = REPO_ROOT / "config" / "demo.yaml"
SIZES = {"ad_org": 17, "m_product": 3000, "c_bpartner": 800, "c_invoice": 2500, "c_invoiceline": 6000,
         "m_pricelist": 40}


def connections() -> dict[str, str]:
    config = load_config(DEMO_CONFIG)
    conns = {conn: str(DEMO_DIR / f"{conn}.db") for conn in config.connections}
    conns[config.target] = str(DEMO_DIR / "central.db")
    return conns


def env() -> dict[str, str]:
    out = {"SYNC_CONFIG": str(DEMO_CONFIG)}
    for conn_id, path in connections().items():
        out[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps({"conn_type": "sqlite", "host": path})
    out["AIRFLOW_CONN_APP_DB"] = json.dumps({"conn_type": "sqlite", "host": str(DEMO_DIR / "app.db")})
    return out


# The demo's WhatsApp accounts: the stand-in service holds only the first session.
DEMO_ACCOUNTS = [("webjs_1_1763300356_ot6RUaMF", 1, "62811801641"), ("webjs_1_1763300400_Lost0001", 1, "62811801642"),
                 ("webjs_2_1763300500_Lost0002", 2, "62811801643")]


def seed_accounts() -> None:
    """A fresh app_db with three 'connected' WhatsApp accounts (two lost by the service)."""
    import os


    os.environ.update(env())
    with Database(APP_DB) as db:
        ensure_accounts_table(db)
        db.execute("DELETE FROM whatsapp_accounts")  # the demo's accounts only, seeded afresh
        for session_id, workspace, phone in DEMO_ACCOUNTS:
            add_account(db, session_id, workspace, phone_number=phone, metadata={"label": f"Workspace {workspace}"})
    print(f"app_db: {len(DEMO_ACCOUNTS)} WhatsApp accounts marked connected")


def generate() -> None:
    """Fresh branch files (each with its own rows) and an empty central database."""
    import os


    os.environ.update(env())
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    config = load_config(DEMO_CONFIG)
    for path in DEMO_DIR.glob("*.db*"):
        path.unlink()
    for number, conn in enumerate(config.connections, start=1):
        sizes = {t: n for t, n in SIZES.items()
                 if any(s.table == t and (s.per_branch or s.single_source == conn) for s in config.tables)}
        with Database(conn) as db:
            demo_data.populate(db, number, sizes)
        print(f"generated {conn}: {', '.join(f'{t} {n:,}' for t, n in sizes.items())}")


def seed_compose() -> None:
    """docker-compose demo: create the branch databases named by the config and fill empty ones."""

    config = load_config()
    for number, conn_id in enumerate(config.connections, start=1):
        db = Database(conn_id)
        db.dialect.ensure_database(db.connection)
        with db:
            has_data = db.run(lambda cur: cur.fetch(
                "SELECT 1 FROM information_schema.tables WHERE table_name = 'c_invoice'"), what="check demo data")
            if not has_data:
                sizes = {t: n for t, n in SIZES.items()
                         if any(s.table == t and (s.per_branch or s.single_source == conn_id) for s in config.tables)}
                demo_data.populate(db, number, sizes)
                print(f"seeded {conn_id}")


def show_certificates() -> None:
    """Print the latest certificate batch of the demo's app_db and its participants."""
    import os


    os.environ.update(env())
    with Database(APP_DB) as db:
        batch = db.fetchone("SELECT * FROM certificate_batches ORDER BY started_at DESC")
        if batch is None:
            print("no certificate batch yet")
            return
        rows = db.fetchall(f"SELECT * FROM certificates WHERE batch_id = %s ORDER BY {db.quote('row_number')}",
                           (batch["batch_id"],))
    print(f"Certificate batch {batch['batch_id']}: {batch['status']}, {batch['success_count']}/"
          f"{batch['total_participants']} generated, {batch['failed_count']} failed "
          f"({batch['progress_percentage']:.0f}%), source {batch['source_file']}")
    for r in rows:
        where = r["file_path"] if r["status"] == "generated" else r["error_message"]
        print(f"  row {r['row_number']:>3}  {r['status']:<9}  {r['certificate_number']}  "
              f"{(r['participant_name'] or '-'):<22}  {where}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["env"]:
        for key, value in env().items():
            print(f"export {key}={shlex.quote(value)}")
        return 0
    if argv[:1] == ["generate"]:
        generate()
        return 0
    if argv[:1] == ["accounts"]:
        seed_accounts()
        return 0
    if argv[:1] == ["certificates"]:
        show_certificates()
        return 0
    print("usage: python -m include.demo env|generate|accounts|certificates", file=sys.stderr)
    return 2
