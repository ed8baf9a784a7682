"""Resume, Retry and a new certificate batch as the logged-in user: Airflow's own REST API is
called with the user's own token, so Airflow decides (and audits) exactly as if the user had
clicked Clear or Trigger in its UI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from include.common.task_states import ApiReads
from include.console.params import Conflict


class ApiRefused(RuntimeError):
    """Airflow's REST API refused the call (its status and text are passed on)."""

    def __init__(self, status: int, text: str):
        self.status = status
        super().__init__(text)


@dataclass(frozen=True)
class AirflowApi(ApiReads):
    """Airflow's REST API as the logged-in user; also reads run/task states and pools
    (:class:`include.common.task_states.ApiReads`) for the stuck diagnosis."""

    base_url: str  # e.g. http://127.0.0.1:8080
    token: str
    timeout: float = 60.0

    def call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> tuple[int, Any]:
        resp = requests.request(method, f"{self.base_url.rstrip('/')}/api/v2/{path}", json=body, params=params,
                                timeout=self.timeout, headers={"Authorization": f"Bearer {self.token}"})
        try:
            data = resp.json() if resp.content else None
        except ValueError:
            data = resp.text
        return resp.status_code, data

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, data = self.call(method, path, body)
        if status >= 400:
            detail = data.get("detail") if isinstance(data, dict) else data
            raise ApiRefused(status, f"Airflow refused {method} /api/v2/{path}: {detail}")
        return data

    def _get(self, path: str, **params: Any) -> Any:
        status, data = self.call("GET", path, params=params or None)
        if status == 404:
            return None
        if status >= 400:
            raise ApiRefused(status, f"Airflow answered {status} to GET /api/v2/{path}")
        return data


def _run_path(dag_id: str, run_id: str) -> str:
    return f"dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"


def resume_sync(api: AirflowApi, batch: dict[str, Any], default_dag: str) -> dict[str, Any]:
    """Clear the failed task instances of the batch's run; when the run is gone (or nothing of it
    failed), trigger the DAG with ``resume=<batch_id>``."""
    batch_id, status = batch["batch_id"], batch["status"]
    if status not in ("failed", "interrupted"):
        raise Conflict(f"sync batch {batch_id!r} is {status}: only a failed or interrupted batch is resumed")
    dag_id, run_id = batch.get("dag_id") or default_dag, batch.get("run_id")
    if run_id:
        found, _ = api.call("GET", _run_path(dag_id, run_id))
        if found == 200:
            cleared = api.ok("POST", f"dags/{quote(dag_id, safe='')}/clearTaskInstances",
                             {"dag_run_id": run_id, "only_failed": True, "dry_run": False, "reset_dag_runs": True})
            tis = [_ti(ti) for ti in (cleared or {}).get("task_instances") or []]
            if tis:
                return {"action": "cleared", "batch_id": batch_id, "dag_id": dag_id, "run_id": run_id,
                        "task_instances": tis,
                        "message": f"Cleared {len(tis)} failed task instance(s) of run {run_id}: "
                                   f"{', '.join(_label(t) for t in tis)}. They run again; the batch goes back to running."}
        elif found not in (404,):
            raise ApiRefused(found, f"Airflow answered {found} when asked for run {run_id} of {dag_id}")
    run = api.ok("POST", f"dags/{quote(dag_id, safe='')}/dagRuns", {"logical_date": None, "conf": {"resume": batch_id}})
    return {"action": "triggered", "batch_id": batch_id, "dag_id": dag_id, "run_id": run["dag_run_id"],
            "message": f"The run {run_id or '-'} is gone: triggered {dag_id} run {run['dag_run_id']} with "
                       f"resume={batch_id}; pairs already completed are skipped."}


def retry_certificates(api: AirflowApi, batch: dict[str, Any], chunks: Sequence[int], bad_rows: int) -> dict[str, Any]:
    """Clear the ``generate`` chunks that hold failed participants (and ``finalize`` after them)."""
    batch_id = batch["batch_id"]
    if batch["status"] in ("pending", "processing"):
        raise Conflict(f"certificate batch {batch_id!r} is still {batch['status']}: wait for it to finish")
    if not chunks:
        raise Conflict(f"certificate batch {batch_id!r} has no failed participant a retry can fix"
                       + (f" ({bad_rows} bad source row(s): fix the file and upload it again)" if bad_rows else ""))
    dag_id, run_id = batch["dag_id"], batch["run_id"]
    found, _ = api.call("GET", _run_path(dag_id, run_id))
    if found == 404:
        raise Conflict(f"the run {run_id} of certificate batch {batch_id!r} no longer exists")
    cleared = api.ok("POST", f"dags/{quote(dag_id, safe='')}/clearTaskInstances",
                     {"dag_run_id": run_id, "only_failed": False, "dry_run": False, "reset_dag_runs": True,
                      "include_downstream": True, "task_ids": [["generate", c] for c in chunks]})
    tis = [_ti(ti) for ti in (cleared or {}).get("task_instances") or []]
    return {"action": "cleared", "batch_id": batch_id, "dag_id": dag_id, "run_id": run_id, "chunks": list(chunks),
            "task_instances": tis,
            "message": f"Cleared {len(tis)} task instance(s) of run {run_id} (generate chunks "
                       f"{', '.join(map(str, chunks))} and finalize): their failed participants are generated again."
                       + (f" {bad_rows} bad source row(s) stay failed." if bad_rows else "")}


def _ti(ti: dict[str, Any]) -> dict[str, Any]:
    return {"task_id": ti.get("task_id"), "map_index": ti.get("map_index"), "state": ti.get("state")}


def _label(ti: dict[str, Any]) -> str:
    index = ti.get("map_index")
    return f"{ti['task_id']}[{index}]" if index is not None and index >= 0 else str(ti["task_id"])


def start_certificates(api: AirflowApi, dag_id: str, conf: dict[str, Any]) -> dict[str, Any]:
    """Trigger ``certificate_dispatch`` for an upload the user confirmed; its ``prepare`` task
    creates the batch (the run's tab leads to it)."""
    run = api.ok("POST", f"dags/{quote(dag_id, safe='')}/dagRuns", {"logical_date": None, "conf": conf})
    return {"action": "triggered", "dag_id": dag_id, "run_id": run["dag_run_id"], "file": conf.get("file"),
            "message": f"Triggered {dag_id} run {run['dag_run_id']} for {conf.get('file')}."}
