"""An auth manager for the end-to-end tests that grants some users only some DAGs.

Airflow's SimpleAuthManager gives every user every DAG, so it cannot show that a page leaks
nothing of a DAG its user may not see. This one is SimpleAuthManager (same users, roles, passwords,
login and tokens) plus one rule read from ``E2E_DAG_SCOPES`` (``user:dag_a|dag_b,other:dag_c``): a
listed user is refused every DAG outside their list, for reading and acting alike, both in
Airflow's own API and UI and in any plugin that asks the auth manager (as the console does).
Users not listed keep SimpleAuthManager's answer.
"""

from __future__ import annotations

import os

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager


def dag_scopes() -> dict[str, set[str]]:
    scopes: dict[str, set[str]] = {}
    for entry in filter(None, (e.strip() for e in os.environ.get("E2E_DAG_SCOPES", "").split(","))):
        user, _, dags = entry.partition(":")
        scopes[user.strip()] = {d.strip() for d in dags.split("|") if d.strip()}
    return scopes


class DagScopedAuthManager(SimpleAuthManager):
    def is_authorized_dag(self, *, method, user, access_entity=None, details=None) -> bool:
        allowed = dag_scopes().get(user.get_name())
        if allowed is not None and details is not None and details.id is not None and details.id not in allowed:
            return False
        return super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)

    def filter_authorized_dag_ids(self, *, dag_ids, user, method="GET", team_name=None) -> set[str]:
        allowed = dag_scopes().get(user.get_name())
        granted = super().filter_authorized_dag_ids(dag_ids=dag_ids, user=user, method=method, team_name=team_name)
        return granted if allowed is None else granted & allowed
