"""The stuck-batch diagnosis (pure): each reason found from progress rows, pools and task states."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from include.branch_sync.pools import POOLS_COMMAND
from include.branch_sync.stuck import check_batch, diagnose, stuck_lines, waiting_pairs

START = datetime(2026, 1, 5, 1, 0, tzinfo=timezone.utc)
NOW = START + timedelta(minutes=30)
BATCH = {"batch_id": "sync_20260105_010000_aaaaaaaa", "status": "running", "started_at": START,
         "dag_id": "branch_sync", "run_id": "scheduled__1"}


def row(conn, table, status="pending", task=None, index=0, started=None, updated=START):
    return {"connection_name": conn, "table_name": table, "status": status, "started_at": started,
            "updated_at": updated, "task_id": task or f"step2.{conn}", "map_index": index}


def pool(name, slots=4, open_slots=4, running=0, queued=0):
    return {"name": name, "slots": slots, "open_slots": open_slots, "running_slots": running, "queued_slots": queued}


def kinds(findings):
    return [f.kind for f in findings]


def test_nothing_waits_too_long():
    fresh = [row("pgsql_lmp", "c_invoice", updated=NOW - timedelta(minutes=5))]
    late_batch = dict(BATCH, started_at=NOW - timedelta(minutes=5))
    assert waiting_pairs(late_batch, fresh, NOW, 600) == []
    assert diagnose(late_batch, fresh, [], {}, NOW) == []
    assert diagnose(dict(BATCH, status="completed"), [row("pgsql_lmp", "c_invoice")], [], {}, NOW) == []
    started = [row("pgsql_lmp", "c_invoice", status="pending", started=START)]  # a retry: it did start
    assert diagnose(BATCH, started, [], {}, NOW) == []


def test_missing_pool_names_the_fix():
    findings = diagnose(BATCH, [row("pgsql_lmp", "c_invoice"), row("pgsql_lmp", "c_order", index=1)],
                        [pool("sync_pgsql_sby")], {"step2.pgsql_lmp_0": "scheduled"}, NOW)
    assert kinds(findings) == ["missing_pool"]
    assert findings[0].fix == POOLS_COMMAND and findings[0].pool == "sync_pgsql_lmp"
    assert "does not exist" in findings[0].message and "pgsql_lmp.c_order" in findings[0].message
    assert findings[0].pairs == ("pgsql_lmp.c_invoice", "pgsql_lmp.c_order")


def test_full_pool_and_zero_slots():
    rows = [row("pgsql_lmp", "c_invoice"), row("pgsql_sby", "c_invoice")]
    pools = [pool("sync_pgsql_lmp", 4, 0, running=4), pool("sync_pgsql_sby", 0, 0)]
    findings = diagnose(BATCH, rows, pools, {"step2.pgsql_lmp_0": "scheduled"}, NOW)
    assert kinds(findings) == ["full_pool", "full_pool"]
    assert "4 running" in findings[0].message and "pools --apply" in findings[0].fix
    unlimited = diagnose(BATCH, rows[:1], [pool("sync_pgsql_lmp", -1, -1, running=50)],
                         {"step2.pgsql_lmp_0": "queued"}, NOW)
    assert kinds(unlimited) == ["no_worker"], "an unlimited pool (slots -1, open -1) is never full"


def test_step1_still_running_holds_step2():
    rows = [row("pgsql_lmp", "m_product", status="in_progress", task="step1.pgsql_lmp", started=START),
            row("pgsql_sby", "c_invoice", index=None)]
    findings = diagnose(BATCH, rows, [pool("sync_pgsql_lmp"), pool("sync_pgsql_sby")],
                        {"step1.pgsql_lmp_0": "running"}, NOW)
    assert kinds(findings) == ["step1_running"]
    assert "pgsql_lmp.m_product" in findings[0].message


def test_queued_scheduled_and_unscheduled_tasks():
    rows = [row("pgsql_lmp", "a", index=0), row("pgsql_lmp", "b", index=1), row("pgsql_lmp", "c", index=2)]
    states = {"step2.pgsql_lmp_0": "queued", "step2.pgsql_lmp_1": "scheduled"}
    findings = diagnose(BATCH, rows, [pool("sync_pgsql_lmp")], states, NOW)
    assert kinds(findings) == ["no_worker", "no_executor_slot", "not_scheduled"]
    assert "worker" in findings[0].fix and "parallelism" in findings[1].fix and "scheduler" in findings[2].fix


def test_pools_unknown_a_scheduled_task_names_its_pool_and_the_fix():
    """Inside a task the pools cannot be read (None): a task scheduled and never queued may wait
    on a missing pool; the finding says so, names the pools and gives the pools command."""
    rows = [row("pgsql_lmp", "a", index=0), row("pgsql_sby", "b", index=0, task="step2.pgsql_sby"),
            row("pgsql_lmp", "c", index=1)]
    states = {"step2.pgsql_lmp_0": "scheduled", "step2.pgsql_sby_0": "scheduled", "step2.pgsql_lmp_1": "queued"}
    findings = diagnose(BATCH, rows, None, states, NOW)
    assert kinds(findings) == ["pool_or_slot", "no_worker"]
    assert "sync_pgsql_lmp, sync_pgsql_sby" in findings[0].message and "may not exist" in findings[0].message
    assert POOLS_COMMAND in findings[0].fix
    assert findings[0].pairs == ("pgsql_lmp.a", "pgsql_sby.b")
    known = diagnose(BATCH, rows, [pool("sync_pgsql_lmp"), pool("sync_pgsql_sby")], states, NOW)
    assert kinds(known) == ["no_worker", "no_executor_slot"], "with the pools read, the pool is ruled out"


def test_custom_threshold_and_pool_names():
    rows = [row("pgsql_lmp", "a", updated=NOW - timedelta(seconds=90))]
    late = dict(BATCH, started_at=NOW - timedelta(seconds=90))
    assert diagnose(late, rows, [], {}, NOW, stuck_after_seconds=120) == []
    found = diagnose(late, rows, [], {}, NOW, stuck_after_seconds=60, pool_of=lambda c: f"p_{c}")
    assert found[0].pool == "p_pgsql_lmp"


class Api:
    def __init__(self, fail=False):
        self.fail = fail
        self.calls = 0

    def pools(self):
        self.calls += 1
        if self.fail:
            raise ConnectionError("refused, password=s3cret")
        return [pool("sync_pgsql_lmp", 2, 0, running=2)]

    def task_states(self, dag_id, run_id):
        return {}


def test_check_batch_reports_and_never_raises():
    rows = [row("pgsql_lmp", "a")]
    report = check_batch(BATCH, rows, Api(), NOW)
    assert report["diagnosed"] and report["waiting_pairs"] == 1
    assert report["waiting_since"] == "2026-01-05T01:00:00.000000Z"
    assert [f["kind"] for f in report["findings"]] == ["full_pool"]
    assert any("fix:" in line for line in stuck_lines(report))

    down = check_batch(BATCH, rows, Api(fail=True), NOW)
    assert not down["diagnosed"] and "unreachable" in down["unavailable"] and "s3cret" not in down["unavailable"]
    assert len(stuck_lines(down)) == 1, "one line when the API cannot be asked"

    made = []
    quiet = check_batch(BATCH, [row("pgsql_lmp", "a", updated=NOW)], lambda: made.append(1) or Api(),
                        NOW - timedelta(minutes=29))
    assert quiet["waiting_pairs"] == 0 and made == [], "the API is not asked when nothing waits too long"
    assert check_batch(dict(BATCH, status="failed"), rows, Api(), NOW) is None
    assert report["pools_known"] is True


def test_check_batch_without_pools_says_so():
    class TaskStatesOnly(Api):
        def pools(self):
            return None

        def task_states(self, dag_id, run_id):
            return {"step2.pgsql_lmp_0": "scheduled"}

    report = check_batch(BATCH, [row("pgsql_lmp", "a")], TaskStatesOnly(), NOW)
    assert report["diagnosed"] and report["pools_known"] is False
    assert [f["kind"] for f in report["findings"]] == ["pool_or_slot"]
    assert any("pools --apply" in line for line in stuck_lines(report))
