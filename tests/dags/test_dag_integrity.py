"""Every DAG file imports cleanly and cheaply: no import errors, no connection lookup or database
query while parsing, tags, retries and docs present; branch_sync scales past max_map_length."""

from __future__ import annotations

from include.branch_sync.config import load_config

import socket
import time
from pathlib import Path

import pytest

from tests.integration.sync_helpers import write_config

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


def _dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


@pytest.fixture
def no_io_while_parsing(monkeypatch):
    """Fail on any connection lookup or network connection during parsing."""
    from airflow.sdk import BaseHook
    from airflow.sdk.definitions.connection import Connection

    def refuse(*args, **kwargs):
        raise AssertionError(f"connection/network access while parsing: {args!r}")

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(lambda cls, *a, **k: refuse(*a)))
    monkeypatch.setattr(Connection, "get", classmethod(lambda cls, *a, **k: refuse(*a)))
    monkeypatch.setattr(socket.socket, "connect", lambda self, *a: refuse(*a))
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(*a))


def test_dags_import_without_errors_or_io(no_io_while_parsing):
    started = time.monotonic()
    bag = _dagbag()
    assert not bag.import_errors, bag.import_errors
    assert "branch_sync" in bag.dag_ids
    # parse cost is reported, not asserted (timings belong in benchmarks/)
    print(f"parsed {len(bag.dag_ids)} DAGs in {time.monotonic() - started:.2f}s")


def test_dags_have_tags_docs_retries_and_fixed_start():
    bag = _dagbag()
    for dag_id, dag in bag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and len(dag.doc_md.strip()) > 80, f"{dag_id} has no doc_md"
        assert dag.catchup is False, dag_id
        assert dag.start_date is not None and dag.start_date.tzinfo is not None, dag_id
        for task in dag.tasks:
            if task.task_id.endswith("_units"):
                continue  # pure XCom selectors: nothing to retry
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def test_branch_sync_pools_labels_and_callbacks():
    dag = _dagbag().dags["branch_sync"]
    sync_tasks = [t for t in dag.tasks if t.task_id.startswith(("step1.", "step2.")) and not t.task_id.endswith("_units")]
    assert sync_tasks
    for task in sync_tasks:
        connection = task.task_id.split(".", 1)[1]
        assert task.pool == f"sync_{connection}"
        assert task.map_index_template == "{{ label }}"
        # what Airflow decides about a unit reaches its unfinished tables; the unit records the rest itself
        for name in ("on_failure_callback", "on_retry_callback", "on_skipped_callback"):
            assert getattr(task, name), f"{task.task_id} lacks {name}"
    assert dag.max_active_runs == 1
    assert dag.get_task("finalize").trigger_rule == "all_done"


def test_sync_verify_runs_each_connection_in_its_sync_pool_with_callbacks():
    dag = _dagbag().dags["sync_verify"]
    verify_tasks = [t for t in dag.tasks if t.task_id.startswith("verify.") and not t.task_id.endswith("_units")]
    assert {t.task_id for t in verify_tasks} == {f"verify.{c}" for c in load_config().connections}
    for task in verify_tasks:
        assert task.pool == f"sync_{task.task_id.split('.', 1)[1]}"  # the sync's pool: no extra connections
        assert task.on_failure_callback and task.on_retry_callback
    assert dag.get_task("finalize").trigger_rule == "all_done" and dag.max_active_runs == 1
    assert dag.params["repair"] is False


def test_branch_sync_with_17_branches_and_120_tables_stays_under_max_map_length(tmp_path, monkeypatch):
    from airflow.configuration import conf

    from include.branch_sync.config import load_config, plan_pairs

    branches = [f"pgsql_b{i:02d}" for i in range(17)]
    tables = [{"table": f"t_{i:03d}", "model": f"T{i:03d}", "primary_key": ["id"], "cursor": "updated"}
              for i in range(118)]
    tables += [{"table": f"s_{i}", "model": f"S{i}", "primary_key": ["id"], "single_source": branches[0]}
               for i in range(2)]
    monkeypatch.setenv("SYNC_CONFIG", str(write_config(tmp_path / "big.yaml", "central_db", branches, tables)))
    dag = _dagbag().dags["branch_sync"]
    step2 = [t for t in dag.tasks if t.task_id.startswith("step2.") and not t.task_id.endswith("_units")]
    assert len(step2) == 17
    plan = plan_pairs(load_config())
    assert len(plan.pairs) == 17 * 118 + 2 == 2008
    longest = max(len(v) for v in (*plan.step1.values(), *plan.step2.values()))
    assert longest <= conf.getint("core", "max_map_length") < len(plan.pairs)


def test_parsing_a_dag_file_pulls_in_no_provider_discovery():
    """Every task process parses its DAG file again: an Asset with a scheme some provider could
    normalize makes Airflow discover every provider's URI handlers there (importing boto3, ~0.8 s
    per task instance); the table assets use the unnormalized ``x-`` scheme instead."""
    import subprocess
    import sys

    probe = ("import sys, importlib.util\n"
             "import airflow.sdk\n"
             "before = set(sys.modules)\n"
             f"for path in sorted(__import__('pathlib').Path({str(DAGS_DIR)!r}).glob('*.py')):\n"
             "    spec = importlib.util.spec_from_file_location(path.stem, path)\n"
             "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
             "print(sorted(m for m in set(sys.modules) - before if m.startswith(('boto3', 'airflow.providers.amazon'))))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=str(DAGS_DIR.parent)).stdout.strip().splitlines()[-1]
    assert out == "[]", f"parsing the DAG files imported {out}"


def test_mapped_tasks_push_one_xcom_each():
    """A ``-> dict`` TaskFlow task infers multiple_outputs and pushes an extra XCom per key (an API
    round trip each) in every mapped task instance; nothing reads those keys."""
    bag = _dagbag()
    for dag_id, task_id in (("branch_sync", "finalize"), ("certificate_dispatch", "generate"),
                            ("certificate_dispatch", "finalize")):
        assert bag.dags[dag_id].get_task(task_id).multiple_outputs is False, (dag_id, task_id)
    dag = bag.dags["branch_sync"]
    sync_tasks = [t for t in dag.tasks if t.task_id.startswith(("step1.", "step2.")) and not t.task_id.endswith("_units")]
    assert sync_tasks and all(t.multiple_outputs is False for t in sync_tasks)
    for asset in dag.get_task("finalize").inlets:
        assert asset.uri.startswith("x-sync://"), asset.uri
    # asset events come from one task (concurrent first events through an alias collide in 3.3)
    assert [t.task_id for t in dag.tasks if t.outlets] == ["finalize"]
