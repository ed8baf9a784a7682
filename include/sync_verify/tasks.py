"""What the ``sync_verify`` DAG's tasks do, as plain functions over the Airflow context.

``plan`` resolves the params against the sync config, creates the run's pending rows and hands
each connection's mapped task its units (lists of tables of that connection); ``verify_unit``
verifies a unit's tables one after another, each with its own tracking row; ``finalize`` settles
rows no task recorded, sends the notice (drift found or repaired) and fails the run if a pair
failed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from include.branch_sync import units as sync_units
from include.branch_sync.config import SyncConfig, list_param, load_config, plan_pairs
from include.branch_sync.pools import check_pools
from include.common.batches import batch_id_for_run
from include.common.clock import utcnow
from include.common.db import Database, is_transient
from include.common.db.errors import fail_unless_transient
from include.common.run_conf import refuse_unknown_conf
from include.common.scrub import error_text
from include.sync_verify import notify, tracking
from include.sync_verify.engine import verify_pair
from include.branch_sync.spec import task_id_for as sync_task_id
from include.sync_verify.spec import task_id_for

log = logging.getLogger(__name__)


def plan_units(config: SyncConfig, target: Database, connections: Sequence[str],
               tables: Sequence[str]) -> dict[str, list[list[str]]]:
    """``{connection: [unit, ...]}``: the tables each connection's mapped task verifies, one unit
    per task instance: branch_sync's own work units (``branch_sync.units.plan_units``), step 1's
    then step 2's, so a verification splits a branch's tables as its sync does."""
    pairs = sync_units.selection_pairs(config, plan_pairs(config, list(connections), list(tables)))
    planned = sync_units.plan_units(config, target, pairs, full_refresh=False)
    out: dict[str, list[list[str]]] = {}
    for step in ("step1", "step2"):
        for conn in config.connections:
            for unit in planned.units.get(sync_task_id(step, conn), []):
                out.setdefault(conn, []).append(list(unit.tables))
    return out


def plan(context: Mapping[str, Any]) -> dict[str, Any]:
    refuse_unknown_conf(context)
    params = context["params"]
    config = load_config()
    dag_run = context["dag_run"]
    verification_id = batch_id_for_run("verify", dag_run.dag_id, dag_run.run_id,
                                       dag_run.run_after or dag_run.start_date or utcnow())
    # A table that cannot be adopted (or any error a retry cannot fix) fails planning at once.
    with fail_unless_transient("plan", config.target), Database(config.target) as db:
        tracking.ensure_schema(db)
        units = plan_units(config, db, list_param(params, "connections"), list_param(params, "tables"))
        check_pools(config, list(units))
        planned = [tracking.Planned(conn, table, task_id_for(conn), index)
                   for conn, conn_units in units.items() for index, unit in enumerate(conn_units) for table in unit]
        tracking.start(db, verification_id, dag_run.dag_id, dag_run.run_id, bool(params.get("repair")), planned)
    log.info("verification %s: %d pairs in %d units", verification_id, len(planned),
             sum(len(u) for u in units.values()))
    return {"verification_id": verification_id, **{conn: units.get(conn, []) for conn in config.connections}}


def verify_unit(verification_id: str, connection: str, tables: Sequence[str], repair: bool,
                context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Verify the unit's tables in turn. A permanent error fails that pair (its reason recorded)
    and the next table goes on; a transient one is left to Airflow's retry, which skips the pairs
    this verification already recorded."""
    from airflow.sdk.exceptions import AirflowFailException

    config = load_config()
    context["label"] = sync_units.unit_label(connection, tables[-1], len(tables))  # type: ignore[index]
    results, failed = [], []
    with Database(config.target) as db:
        for table in tables:
            if tracking.status_of(db, verification_id, connection, table) in tracking.FINAL_STATUSES:
                log.info("%s.%s was verified by an earlier try", connection, table)
                continue
            tracking.mark_started(db, verification_id, connection, table)
            try:
                result = verify_pair(config, config.table(table), connection, repair=repair,
                                     record=lambda cur, r: tracking.record(cur, verification_id, r))
            except Exception as exc:
                if is_transient(exc):
                    raise
                reason = f"{type(exc).__name__}: {error_text(exc, connection, config.target)}"
                tracking.mark_failed(db, verification_id, [(connection, table)], reason)
                failed.append(f"{table} ({reason})")
                continue
            results.append(result.as_dict())
    if failed:
        raise AirflowFailException(f"{connection}: {len(failed)} of {len(tables)} tables failed: {'; '.join(failed)}")
    return results


def finalize(context: Mapping[str, Any]) -> dict[str, Any]:
    """Rows still open when every verify task is done had no task record them: failed, saying so.
    Then the notice, and the run fails if any pair failed."""
    from airflow.sdk.exceptions import AirflowFailException

    dag_run = context["dag_run"]
    with Database(load_config().target) as db:
        out = settle(db, dag_run.dag_id, dag_run.run_id, "its task ended without recording a result")
    if out is None:
        raise AirflowFailException("no verification was planned for this run (the plan task failed)")
    if out["failed"]:
        raise AirflowFailException(f"verification {out['verification_id']}: {out['failed']} of {out['pairs']} "
                                   f"pairs failed; see sync_verifications or verify-status")
    return out


def settle(db: Database, dag_id: str, run_id: str, reason: str) -> dict[str, Any] | None:
    """Fail the run's open rows with ``reason``, derive its summary, announce it (once)."""
    row = db.fetchone(f"SELECT verification_id FROM {db.quote(tracking.VERIFICATIONS)} WHERE dag_id = %s "
                      f"AND run_id = %s", (dag_id, run_id))
    if row is None:
        return None
    verification_id = row["verification_id"]
    rows = tracking.rows_of(db, verification_id)
    open_pairs = [(r["connection_name"], r["table_name"]) for r in rows if r["status"] in tracking.OPEN_STATUSES]
    if open_pairs:
        tracking.mark_failed(db, verification_id, open_pairs, reason, only_open=True)
        rows = tracking.rows_of(db, verification_id)
    out = {"verification_id": verification_id, **tracking.summary(rows)}
    out["notice"] = notify.announce(db, verification_id)
    log.info("verification %s: %s", verification_id, out)
    return out
