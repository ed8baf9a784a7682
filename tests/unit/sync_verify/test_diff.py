"""The pure decisions of a verification: bucket levels, differing buckets, bisection steps, the
merge of two streams in the same order, and the classification against the sync's watermark."""

from __future__ import annotations

import datetime as dt

import pytest

from include.sync_verify import diff
from include.sync_verify.diff import Bucket, Difference, Findings, Row, Watermark


def test_first_level_aims_at_a_few_hundred_rows_per_bucket_and_is_bounded():
    assert diff.first_level(0, False) == 16 and diff.first_level(256 * 16, False) == 16
    assert diff.first_level(5000, False) == 256
    assert diff.first_level(1_000_000, False) == 4096
    assert diff.first_level(10**12, False) == 4096
    # an integer key's levels are primes (a modulus): ids stepping by 2, 10 or 17 still fill them
    assert [diff.first_level(n, True) for n in (0, 5000, 1_000_000, 10**12)] == [13, 251, 4093, 4093]
    assert all(n > 2 and all(n % p for p in range(2, int(n ** 0.5) + 1)) for n in diff.INTEGER_LEVELS)


def test_differing_buckets_are_those_whose_count_or_checksum_or_presence_differs():
    source = {"a": Bucket(3, 10), "b": Bucket(2, 7), "c": Bucket(1, 5)}
    central = {"a": Bucket(3, 10), "b": Bucket(2, 8), "d": Bucket(4, 1)}
    assert diff.differing(source, central) == {"b": 2, "c": 1, "d": 4}
    assert diff.differing(source, dict(source)) == {}


def test_next_step_fetches_few_rows_splits_many_and_streams_a_mostly_different_table():
    assert diff.next_step({}, 4, 10**6) == diff.Step("done")
    assert diff.next_step({"ab": 10, "cd": 5}, 2, 10**6) == diff.Step("fetch", ("ab", "cd"), 2)
    many = {f"{i:03x}": 100 for i in range(1000)}  # 100,000 rows at stake of 10^6
    assert diff.next_step(many, 4096, 10**6) == diff.Step("split", tuple(sorted(many)), 4096 * 256)
    assert diff.next_step(many, 4096, 200_000).action == "stream"  # half the table differs
    assert diff.next_step(many, diff.MAX_BUCKETS, 10**6).action == "fetch"  # no deeper than the hash allows
    remainders = {i * 7: 100 for i in range(1000)}  # an integer key's buckets split the same way
    assert diff.next_step(remainders, 4093, 10**6) == diff.Step("split", tuple(sorted(remainders)), 4093 * 256)


def _rows(*items):
    return [Row(kh, (key,), tuple(fields), cursor) for kh, key, fields, cursor in items]


def test_compare_merges_by_merge_key_and_names_the_changed_columns():
    source = _rows(("01", 1, ["a", "x"], None), ("05", 5, ["b", "y"], None), ("09", 9, ["c", None], None))
    central = _rows(("03", 3, ["z", "z"], None), ("05", 5, ["b", "Y"], None), ("09", 9, ["c", None], None),
                    ("0f", 15, ["q", "q"], None))
    found = list(diff.compare(source, central, ["label", "note"]))
    assert [(d.kind, (d.source or d.central).key, d.columns) for d in found] == [
        ("missing", (1,), ()), ("extra", (3,), ()), ("changed", (5,), ("note",)), ("extra", (15,), ())]
    assert list(diff.compare([], [], ["x"])) == []
    by_key = list(diff.compare(_rows((-5, -5, ["a"], None), (2, 2, ["b"], None)),
                               _rows((-5, -5, ["a"], None), (10, 10, ["c"], None)), ["label"]))
    assert [(d.kind, (d.source or d.central).key) for d in by_key] == [("missing", (2,)), ("extra", (10,))]


NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc)
MARK = Watermark(synced=True, cursor=NOW, lookback_from=NOW - dt.timedelta(minutes=5))


@pytest.mark.parametrize("cursor, expected", [
    (NOW + dt.timedelta(seconds=1), True),  # after the watermark
    (NOW - dt.timedelta(minutes=1), True),  # inside the look-back window the next sync re-reads
    (NOW - dt.timedelta(hours=1), False),  # long before: the sync will never carry it: drift
    (None, True),  # a NULL cursor is re-read by every sync
])
def test_a_branch_row_past_the_watermark_is_not_yet_synced(cursor, expected):
    changed = Difference("changed", Row("01", (1,), ("a",), cursor), Row("01", (1,), ("b",)))
    assert diff.not_yet_synced(changed, MARK) is expected
    missing = Difference("missing", Row("01", (1,), ("a",), cursor), None)
    assert diff.not_yet_synced(missing, MARK) is expected


def test_extra_rows_and_tables_without_cursor_are_always_drift():
    extra = Difference("extra", None, Row("01", (1,), ("a",)))
    assert diff.not_yet_synced(extra, MARK) is False
    changed = Difference("changed", Row("01", (1,), ("a",), None), Row("01", (1,), ("b",)))
    assert diff.not_yet_synced(changed, Watermark(synced=True, has_cursor=False)) is False
    assert diff.not_yet_synced(changed, Watermark(synced=False)) is True  # never synced: all of it is pending
    naive = Difference("changed", Row("01", (1,), ("a",), dt.datetime(2026, 3, 2)), Row("01", (1,), ("b",)))
    assert diff.not_yet_synced(naive, MARK) is False  # cannot compare: reported, never hidden


def test_findings_count_each_kind_keep_a_bounded_sample_and_the_keys_a_repair_needs():
    findings = Findings()
    old = NOW - dt.timedelta(days=1)
    for i in range(30):
        findings.add(Difference("missing", Row(f"{i:02x}", (i,), ("a",), old), None), MARK, ["id"])
    findings.add(Difference("extra", None, Row("ff", (99,), ("a",))), MARK, ["id"])
    findings.add(Difference("changed", Row("fe", (98,), ("a", "b"), NOW + dt.timedelta(hours=1)),
                            Row("fe", (98,), ("a", "c")), ("note",)), MARK, ["id"])
    assert (findings.missing, findings.extra, findings.changed, findings.not_yet_synced) == (30, 1, 0, 1)
    assert findings.drift == 31
    assert len(findings.sample) == diff.SAMPLE_MAX and findings.sample[0] == {"kind": "missing", "key": {"id": 0}}
    assert findings.to_write == [(i,) for i in range(30)] and findings.to_delete == [(99,)]
