"""Which errors are retried, and that secrets never survive into stored error messages."""

from __future__ import annotations

import pytest

from include.common.db import PermanentError, is_transient
from include.common.db.errors import SchemaError, fail_unless_transient
from include.common.schema_plan import Problem
from include.common.scrub import scrub


class PgError(Exception):
    def __init__(self, sqlstate, msg="x"):
        super().__init__(msg)
        self.sqlstate = sqlstate


@pytest.mark.parametrize("exc, transient", [
    (PgError("08006"), True),        # connection failure
    (PgError("57P01"), True),        # admin shutdown
    (PgError("40P01"), True),        # deadlock
    (PgError("40001"), True),        # serialization failure
    (PgError("57014"), True),        # statement timeout
    (PgError("42P01"), False),       # undefined table
    (PgError("42703"), False),       # undefined column
    (PgError("22P02"), False),       # invalid text representation (type mismatch)
    (PgError("23505"), False),       # unique violation
    (Exception(2006, "MySQL server has gone away"), True),
    (Exception(2013, "Lost connection to MySQL server during query"), True),
    (Exception(1213, "Deadlock found"), True),
    (Exception(1205, "Lock wait timeout exceeded"), True),
    (Exception(1146, "Table 'x.y' doesn't exist"), False),
    (Exception(1054, "Unknown column"), False),
    (ConnectionResetError("reset by peer"), True),
    (Exception('connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused'), True),
    (Exception("database is locked"), True),
    (PermanentError("server closed the connection"), False),
    (SchemaError([Problem("sync_batches", "status", "smallint", "a text type")]), False),
    (Exception(1060, "Duplicate column name 'dag_id'"), False),
    (Exception("no such column: records_deleted"), False),
    (ValueError("bad value"), False),
])
def test_transient_classification(exc, transient):
    assert is_transient(exc) is transient


def test_scrub_removes_passwords_and_uri_credentials():
    message = ('could not connect to postgresql://sync:Sup3rSecret@10.0.0.5/erp password=Sup3rSecret '
               'api_key=abc123 token')
    cleaned = scrub(message, ["Sup3rSecret"])
    assert "Sup3rSecret" not in cleaned and "abc123" not in cleaned
    assert "10.0.0.5/erp" in cleaned


def test_a_schema_error_names_every_problem_and_fails_the_task_without_retry():
    from airflow.sdk.exceptions import AirflowFailException

    problems = [Problem("sync_batches", "status", "smallint", "a text type holding running, completed"),
                Problem("sync_progress", "batch_id", "no such column", "the key column batch_id")]
    with pytest.raises(AirflowFailException) as raised, fail_unless_transient("plan", None):
        raise SchemaError(problems)
    text = str(raised.value)
    assert text.startswith("plan: SchemaError: table 'sync_batches' column 'status': found smallint; needed a text")
    assert "table 'sync_progress' column 'batch_id': found no such column" in text
    assert "left unchanged" in text


def test_a_transient_error_is_left_to_airflows_retries():
    with pytest.raises(ConnectionResetError), fail_unless_transient("plan"):
        raise ConnectionResetError("reset by peer")
