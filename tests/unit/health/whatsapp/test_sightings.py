"""What the service said of each session (pure part): unchanged keeps its "since", changed or new
starts now, a session the service does not hold is ``not_found``, an unchecked one is skipped."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from include.health.whatsapp.client import Session
from include.health.whatsapp.sightings import NOT_FOUND, sightings

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
NOW = T0 + timedelta(minutes=10)


def test_since_moves_only_when_the_service_changes_its_word():
    remote = {"a": Session("a", "connected"), "b": Session("b", "disconnected"), "u": Session("u", "connected")}
    previous = {1: ("connected", T0), 2: ("connected", T0), 4: ("connected", T0)}
    rows = {r.session_id: r for r in sightings([(1, "a"), (2, "b"), (3, "c"), (4, "u")], remote, {"u"}, previous, NOW)}
    assert set(rows) == {"a", "b", "c"}  # "u" was not read this run: its row stays as it was
    assert (rows["a"].service_status, rows["a"].status_since) == ("connected", T0)
    assert (rows["b"].service_status, rows["b"].status_since) == ("disconnected", NOW)
    assert (rows["c"].service_status, rows["c"].status_since) == (NOT_FOUND, NOW)
    assert all(r.checked_at == NOW for r in rows.values())


def test_a_previous_row_without_a_time_starts_now():
    (row,) = sightings([(1, "a")], {"a": Session("a", "connected")}, set(), {1: ("connected", None)}, NOW)
    assert row.status_since == NOW
