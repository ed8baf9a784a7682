"""Airflow's own task states, the source of truth for what ran: read through the Task SDK inside a
task, or through the public REST API from the command line, never from the metadata database."""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

from include.common.conn_ids import AIRFLOW_API


def ui_run_path(dag_id: Any, run_id: Any) -> str:
    """The path of a DAG run's page in Airflow's UI (relative to its base URL)."""
    return f"/dags/{quote(str(dag_id), safe='')}/runs/{quote(str(run_id), safe='')}"


def ui_task_path(dag_id: Any, run_id: Any, task_id: Any, map_index: Any) -> str:
    """The path of a task instance's page (its log) in Airflow's UI; a mapped instance by its index."""
    base = f"{ui_run_path(dag_id, run_id)}/tasks/{quote(str(task_id), safe='')}"
    return f"{base}/mapped/{int(map_index)}" if map_index is not None and int(map_index) >= 0 else base


class TaskStateSource(Protocol):
    def run_state(self, dag_id: str, run_id: str) -> str | None:
        """The run's state, or None when the run no longer exists."""

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """``task_id`` (unmapped) or ``task_id_mapindex`` -> state, as the Task SDK reports it."""


class TaskSdkStates:
    """Inside a running task: the Task SDK asks the API server on the task's behalf."""

    def __init__(self, ti: Any):
        self.ti = ti

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        if not self.ti.get_dr_count(dag_id=dag_id, run_ids=[run_id]):
            return None
        return str(self.ti.get_dagrun_state(dag_id=dag_id, run_id=run_id))

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        return dict(self.ti.get_task_states(dag_id=dag_id, run_ids=[run_id]).get(run_id, {}))

    def pools(self) -> None:
        """The Task SDK gives a task no read of the pools: None, "not known"."""
        return None


class ApiReads:
    """Run states, task states and pools read from the public REST API (``/api/v2``), over the
    subclass's ``_get(path, **params)`` (the decoded JSON, None for a 404): the CLI's
    :class:`RestApiStates` and the console's client (the logged-in user's token) share them."""

    def _get(self, path: str, **params: Any) -> Any:
        raise NotImplementedError

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        run = self._get(f"dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}")
        return None if run is None else run["state"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        states: dict[str, str | None] = {}
        offset = 0
        while True:
            page = self._get(f"dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances",
                             limit=1000, offset=offset) or {"task_instances": []}
            for ti in page["task_instances"]:
                key = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}_{ti['map_index']}"
                states[key] = ti["state"]
            offset += len(page["task_instances"])
            if not page["task_instances"] or offset >= page.get("total_entries", 0):
                return states

    def active_runs(self, dag_id: str) -> list[dict[str, Any]]:
        """The DAG's runs that are ``queued`` or ``running`` (``dag_run_id``, ``state``, ...)."""
        page = self._get(f"dags/{quote(dag_id, safe='')}/dagRuns", state=["queued", "running"], limit=100) \
            or {"dag_runs": []}
        return list(page["dag_runs"])

    def pools(self) -> list[dict[str, object]]:
        """Every pool as ``GET /api/v2/pools`` reports it (``name``, ``slots``, ``open_slots``,
        ``running_slots``, ``queued_slots``, ``scheduled_slots``, ...)."""
        pools: list[dict[str, object]] = []
        while True:
            page = self._get("pools", limit=100, offset=len(pools)) or {"pools": []}
            pools += page["pools"]
            if not page["pools"] or len(pools) >= page.get("total_entries", 0):
                return pools


class RestApiStates(ApiReads):
    """The public REST API with the credentials of an Airflow connection (``airflow_api`` by
    default: HTTP, host/port of the api-server, login and password): the CLI's reads, and
    ``health_reconcile``'s pools and its automatic resume (:meth:`trigger_run`)."""

    def __init__(self, conn_id: str = AIRFLOW_API, timeout: float = 30.0):
        import requests
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
        self.login = conn.login
        scheme = (conn.schema or "http") if (conn.schema or "http") in ("http", "https") else "http"
        self.base = f"{scheme}://{conn.host or '127.0.0.1'}:{conn.port or 8080}"
        self.timeout = timeout
        self.session = requests.Session()
        response = self.session.post(f"{self.base}/auth/token", json={"username": conn.login, "password": conn.password},
                                     timeout=timeout)
        if response.status_code >= 400:
            raise PermissionError(f"the Airflow API at {self.base} refused the credentials of connection "
                                  f"{conn_id!r} (HTTP {response.status_code})")
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def _get(self, path: str, **params: Any) -> Any:
        response = self.session.get(f"{self.base}/api/v2/{path}", params=params, timeout=self.timeout)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def trigger_run(self, dag_id: str, run_id: str, conf: dict[str, Any], note: str | None = None) -> str:
        """Trigger ``dag_id`` as run ``run_id`` with ``conf``: ``"triggered"``, or ``"exists"`` when
        a run of that id exists (a retried caller: the id makes the trigger idempotent). Anything
        else Airflow answers raises ``RuntimeError`` with its status and detail."""
        response = self.session.post(f"{self.base}/api/v2/dags/{quote(dag_id, safe='')}/dagRuns", timeout=self.timeout,
                                     json={"dag_run_id": run_id, "logical_date": None, "conf": conf, "note": note})
        if response.status_code == 409:
            return "exists"
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text[:300]
            raise RuntimeError(f"Airflow refused to trigger {dag_id} (HTTP {response.status_code}): {detail}")
        return "triggered"
