"""Fixtures shared by the branch_sync integration tests."""

from __future__ import annotations

import pytest

from include.branch_sync import tracking
from include.common.db import Database


@pytest.fixture(params=["load_data", "insert"])
def mariadb_central(request, pg_database, mariadb_database, connections):
    """A PostgreSQL branch ``src_a`` and a MariaDB ``central`` with the tracking tables, once taking
    local files (LOAD DATA) and once refusing them (the connection's extra ``local_infile: false``:
    multi-row INSERTs); the parameter's name is returned."""
    uri = mariadb_database("central") + ("" if request.param == "load_data" else "?local_infile=false")
    connections({"src_a": pg_database("src_a"), "central": uri})
    with Database("central") as db:
        tracking.ensure_schema(db)
    return request.param


@pytest.fixture
def pg_central(pg_database, connections):
    """PostgreSQL branches ``src_a`` and ``src_b`` and a PostgreSQL ``central`` with the tracking tables."""
    connections({"src_a": pg_database("src_a"), "src_b": pg_database("src_b"), "central": pg_database("central")})
    with Database("central") as db:
        tracking.ensure_schema(db)
