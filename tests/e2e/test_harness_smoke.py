"""Smoke tests of the e2e harness itself: a real Airflow is up, parses, schedules, runs and retries."""

from __future__ import annotations

import textwrap
import uuid

from airflow_server import EXPECTED_AIRFLOW_VERSION, AirflowServer

PROBE_DAG = textwrap.dedent(
    '''
    """A probe DAG written by tests/e2e/test_harness_smoke.py."""
    import os
    from datetime import datetime
    from pathlib import Path

    from airflow.sdk import dag, task

    MARKER = os.environ.get("E2E_HARNESS_MARKER", "<unset>")


    @dag(
        dag_id="{dag_id}",
        schedule=None,
        start_date=datetime(2024, 1, 1),
        catchup=False,
        description=f"parse-env={{MARKER}}",
        tags=["e2e-harness"],
        default_args={{"retries": 0}},
    )
    def probe():
        @task
        def echo(**context):
            conf = context["dag_run"].conf
            print(f"PROBE token={{conf['token']}} env={{os.environ.get('E2E_HARNESS_MARKER')}}")
            return conf["token"]

        @task
        def flaky(n: int, flag: str):
            # Fails once for n == 1, then succeeds after a clear: exercises mapped TIs, tries, clear.
            if n == 1 and not Path(flag).exists():
                Path(flag).write_text("failed once")
                raise RuntimeError("probe: failing on purpose")
            return n

        echo() >> flaky.partial(flag="{{{{ dag_run.conf['flag'] }}}}").expand(n=[0, 1, 2])


    probe()
    '''
)


def test_server_is_up_and_dags_import_cleanly(airflow_server: AirflowServer):
    assert airflow_server.version() == EXPECTED_AIRFLOW_VERSION

    health = airflow_server.health()
    for component in ("metadatabase", "scheduler", "dag_processor"):
        assert health[component]["status"] == "healthy", health

    # Every file of the repository's dags/ must have been parsed once before judging import errors.
    parsed = airflow_server.wait_for_parse(timeout=180)
    errors = airflow_server.import_errors()
    assert errors == [], f"import errors in {sorted(parsed)}:\n{airflow_server.format_import_errors(errors)}"
    listed = airflow_server.api("GET", "importErrors")
    assert listed["total_entries"] == 0, listed


def test_probe_dag_runs_fails_and_recovers_after_clear(airflow_server: AirflowServer, tmp_path):
    dag_id = f"e2e_probe_{uuid.uuid4().hex[:8]}"
    (airflow_server.extra_dags_folder / f"{dag_id}.py").write_text(PROBE_DAG.format(dag_id=dag_id))

    dag = airflow_server.wait_for_dag(dag_id, timeout=120)
    assert dag["is_paused"] is True  # DAGS_ARE_PAUSED_AT_CREATION
    # The harness's extra env reached the dag-processor.
    assert dag["description"] == "parse-env=harness-smoke", dag

    airflow_server.unpause(dag_id)
    token = uuid.uuid4().hex
    flag = tmp_path / "flaky.flag"
    run_id = airflow_server.trigger(dag_id, {"token": token, "flag": str(flag)})

    state = airflow_server.wait_for_run(dag_id, run_id, timeout=180)
    assert state == "failed", airflow_server.failure_report(dag_id, run_id)
    states = airflow_server.ti_states(dag_id, run_id)
    assert states == {
        ("echo", -1): "success",
        ("flaky", 0): "success",
        ("flaky", 1): "failed",
        ("flaky", 2): "success",
    }, states
    assert flag.exists()

    # Conf and the extra env reached the task process; logs are readable through the API.
    echo_log = airflow_server.task_log(dag_id, run_id, "echo", try_number=1)
    assert f"PROBE token={token} env=harness-smoke" in echo_log, echo_log
    flaky_log = airflow_server.task_log(dag_id, run_id, "flaky", try_number=1, map_index=1)
    assert "probe: failing on purpose" in flaky_log, flaky_log

    cleared = airflow_server.clear_failed(dag_id, run_id)
    assert {(ti["task_id"], ti["map_index"]) for ti in cleared} == {("flaky", 1)}, cleared

    state = airflow_server.wait_for_run(dag_id, run_id, timeout=180)
    assert state == "success", airflow_server.failure_report(dag_id, run_id)
    tis = {(ti["task_id"], ti["map_index"]): ti for ti in airflow_server.task_instances(dag_id, run_id)}
    assert {key: ti["state"] for key, ti in tis.items()} == {
        ("echo", -1): "success",
        ("flaky", 0): "success",
        ("flaky", 1): "success",
        ("flaky", 2): "success",
    }
    assert tis[("flaky", 1)]["try_number"] == 2
    assert tis[("echo", -1)]["try_number"] == 1
