"""Refusing a run conf that names a key the DAG has no param for.

Airflow merges a trigger's ``conf`` into the params and keeps any extra key without a word, so a
typo (``{"tabels": [...]}``) would silently run with the defaults (every table of every branch).
The first task of each DAG calls :func:`refuse_unknown_conf` before it writes anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def unknown_conf_message(conf: Mapping[str, Any] | None, allowed: Iterable[str]) -> str | None:
    """Why ``conf`` is refused (it names keys outside ``allowed``), or None when it is fine."""
    allowed = sorted(allowed)
    unknown = sorted(str(k) for k in (conf or {}) if k not in allowed)
    if not unknown:
        return None
    return (f"run conf: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(allowed) or '(none)'}")


def refuse_unknown_conf(context: Mapping[str, Any]) -> None:
    """Fail the task, without retries, when the run's conf names a key the DAG has no param for."""
    from airflow.sdk.exceptions import AirflowFailException

    message = unknown_conf_message(context["dag_run"].conf, context["dag"].params.keys())
    if message:
        raise AirflowFailException(message)
