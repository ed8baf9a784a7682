"""Fixtures for the end-to-end tests: a real Airflow 3.3 on PostgreSQL, driven through its REST API.

* ``airflow_server`` (session): the shared deployment, started once with :func:`airflow_extra_env`.
* ``airflow_server_factory`` (session): ``factory(extra_env) -> AirflowServer`` for tests that need
  environment variables of their own in the api-server / scheduler / dag-processor / task processes
  (``AIRFLOW_CONN_*``, ``SYNC_CONFIG`` ...).  Deployments are cached by their ``extra_env``, so tests
  asking for the same env share one; all are stopped (and their databases dropped) at session end.
  Each deployment costs ~20 s to start and three resident processes, so group tests by env; only
  the most recently requested deployment is kept running.
* ``airflow_extra_env`` (session): the env of the shared ``airflow_server``.  Override
  it with a *session-scoped* fixture of the same name in this file if the whole suite needs one.

Connections and Variables can also be created at run time through the API (``POST /connections``,
:meth:`AirflowServer.set_variable`) without a new deployment.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from airflow_server import AirflowServer, PostgresUnavailable  # noqa: E402

AirflowServerFactory = Callable[..., AirflowServer]


@pytest.fixture(scope="session")
def airflow_extra_env() -> dict[str, str]:
    """Extra environment of the shared ``airflow_server`` deployment.

    ``E2E_HARNESS_MARKER`` lets the smoke test prove that the extra env reaches the dag-processor
    and the task processes; keep it (or drop that assertion) when changing this.
    """
    return {"E2E_HARNESS_MARKER": "harness-smoke"}


@pytest.fixture(scope="session")
def airflow_server_factory() -> Iterator[AirflowServerFactory]:
    servers: dict[tuple, AirflowServer] = {}

    def factory(extra_env: Mapping[str, str] | None = None, **kwargs) -> AirflowServer:
        env = {k: str(v) for k, v in (extra_env or {}).items()}
        key = (tuple(sorted(env.items())), tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        server = servers.get(key)
        if server is None:
            # One deployment at a time: each costs three busy processes, and on 2 cores idle ones
            # left running would slow every later test.
            for other_key in list(servers):
                servers.pop(other_key).stop()
            server = AirflowServer(extra_env=env, name=f"e2e-{len(servers)}", **kwargs)
            try:
                server.start()
            except PostgresUnavailable as exc:
                pytest.fail(str(exc), pytrace=False)
            servers[key] = server
            print(f"\n[e2e] started {server} in {server.startup_seconds:.1f}s {server.timings}")
        return server

    try:
        yield factory
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="session")
def airflow_server(airflow_server_factory, airflow_extra_env) -> AirflowServer:
    """The shared, started deployment."""
    return airflow_server_factory(airflow_extra_env)
