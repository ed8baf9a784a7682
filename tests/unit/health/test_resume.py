"""The pure side of the automatic resume: its settings, the decision, the resumed run's conf, and
what ``sync-status`` says of the attempts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from include.branch_sync import report
from include.health.resume import AutoResumeSettings, decide, resume_conf, run_id_for

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
ON = AutoResumeSettings(enabled=True, quiet_minutes=10, max_attempts=2)
BATCH = {"batch_id": "sync_20260302_090000_abcdEFGH", "dag_id": "branch_sync", "run_id": "manual__killed",
         "status": "interrupted", "completed_at": NOW - timedelta(minutes=30), "updated_at": NOW - timedelta(minutes=30),
         "command_options": json.dumps({"connections": ["pgsql_aa"], "tables": [], "skip_step1": False,
                                        "full_refresh": True, "resume": None})}


def attempt(number: int, minutes_ago: float, outcome: str = "triggered") -> dict:
    return {"batch_id": BATCH["batch_id"], "attempt": number, "max_attempts": 2, "triggered_by": "health_reconcile:r",
            "api_user": "admin", "attempted_at": NOW - timedelta(minutes=minutes_ago), "dag_id": "branch_sync",
            "run_id": run_id_for(BATCH["batch_id"], number), "outcome": outcome, "error_message": None}


def test_settings_are_off_by_default_and_refuse_bad_values():
    assert AutoResumeSettings.from_mapping(None) == AutoResumeSettings() and not AutoResumeSettings().enabled
    assert AutoResumeSettings.from_mapping({"enabled": True, "quiet_minutes": 0, "max_attempts": 1}) == \
        AutoResumeSettings(True, 0.0, 1)
    for bad, phrase in (({"enable": True}, r"unknown key\(s\) enable"), ({"enabled": "yes"}, "enabled must be"),
                        ({"max_attempts": 0}, "max_attempts must be"), ({"quiet_minutes": -1}, "quiet_minutes must"),
                        ([], "must be a JSON object")):
        with pytest.raises(ValueError, match=phrase):
            AutoResumeSettings.from_mapping(bad)


def test_an_interrupted_batch_is_resumed_after_the_quiet_time():
    assert decide(BATCH, [], [], ON, NOW) == decide(BATCH, [], [], ON, NOW)
    go = decide(BATCH, [], [], ON, NOW)
    assert (go.action, go.attempt, go.batch_id) == ("resume", 1, BATCH["batch_id"])
    fresh = {**BATCH, "completed_at": NOW - timedelta(minutes=4), "updated_at": NOW - timedelta(minutes=4)}
    wait = decide(fresh, [], [], ON, NOW)
    assert wait.action == "wait_quiet" and "not before 2026-03-02 10:06:00 UTC" in wait.detail


def test_the_quiet_time_counts_from_the_last_attempt_too():
    assert decide(BATCH, [attempt(1, 5)], [], ON, NOW).action == "wait_quiet"
    again = decide(BATCH, [attempt(1, 11)], [], ON, NOW)
    assert (again.action, again.attempt) == ("resume", 2)


def test_never_while_another_run_is_active():
    decision = decide(BATCH, [], ["manual__other", "scheduled__x"], ON, NOW)
    assert decision.action == "wait_active" and "manual__other, scheduled__x" in decision.detail


def test_attempts_are_capped():
    capped = decide(BATCH, [attempt(1, 60), attempt(2, 30)], [], ON, NOW)
    assert capped.action == "exhausted" and "2 of 2" in capped.detail and f"resume={BATCH['batch_id']}" in capped.detail


@pytest.mark.parametrize("status", ["running", "completed", "failed"])
def test_only_an_interrupted_batch_is_resumed(status):
    assert decide({**BATCH, "status": status}, [], [], ON, NOW).action == "none"
    assert decide(None, [], [], ON, NOW).action == "none"


def test_the_resumed_run_plans_the_batch_s_own_selection():
    assert resume_conf(BATCH) == {"connections": ["pgsql_aa"], "skip_step1": False, "full_refresh": True,
                                  "resume": BATCH["batch_id"]}
    assert resume_conf({**BATCH, "command_options": "not json"}) == {"resume": BATCH["batch_id"]}


def test_sync_status_says_when_a_batch_ran_out_of_attempts():
    attempts = [attempt(1, 60), attempt(2, 30, "failed") | {"error_message": "HTTP 403"}]
    summary = report.auto_resume(BATCH, attempts)
    assert (summary["used"], summary["max_attempts"], summary["exhausted"]) == (2, 2, True)
    assert summary["attempts"][1]["run_id"] == f"auto_resume__{BATCH['batch_id']}__2"
    lines = report.auto_resume_lines(summary)
    assert lines[0].startswith("  Auto-resume: attempt 1 of 2 at 2026-03-02 09:00:00 UTC by health_reconcile:r: "
                               "triggered run auto_resume__")
    assert "(HTTP 403)" in lines[1]
    assert lines[2] == (f"  Auto-resume: out of attempts (2 of 2 used); resume it by hand: trigger branch_sync with "
                        f"resume={BATCH['batch_id']}, or Resume in the console")
    completed = report.auto_resume({**BATCH, "status": "completed"}, attempts)
    assert not completed["exhausted"] and len(report.auto_resume_lines(completed)) == 2
    assert report.auto_resume(BATCH, []) is None and report.auto_resume_lines(None) == []
