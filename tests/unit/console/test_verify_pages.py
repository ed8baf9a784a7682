"""The verification pages render the rows they are given: drift highlighted, counts shown,
sampled keys escaped, clean tables plain."""

from __future__ import annotations

from include.console import verify


def _pair(connection, table, status, missing=0, extra=0, changed=0, sample=()):
    return {"verification_id": "verify_20260101_010000_Ab12Cd34", "connection": connection, "table": table,
            "status": status, "repair": False, "method": "checksum", "branch_rows": 10, "central_rows": 10 + extra - missing,
            "missing_rows": missing, "extra_rows": extra, "changed_rows": changed, "not_yet_synced": 0,
            "repaired_rows": 0, "drift_rows": missing + extra + changed, "sample_keys": list(sample), "note": None,
            "error": None, "run_id": "r", "started_at": None, "completed_at": None, "duration_seconds": 1.0,
            "retry_count": 0}


def test_overview_highlights_drift_and_leaves_clean_tables_plain():
    html = verify.overview_page({"tables": [_pair("pgsql_aa", "c_invoice", "drift", missing=2, changed=1),
                                            _pair("pgsql_bb", "c_invoice", "clean")], "runs": []})
    assert '<tr class="drift" data-pair="pgsql_aa.c_invoice">' in html
    assert '<tr class="" data-pair="pgsql_bb.c_invoice">' in html
    # only the counts that differ are marked (missing 2, extra 0, changed 1), none in a clean row
    assert '<td class="n hot">2</td><td class="n">0</td><td class="n hot">1</td>' in html
    assert html.count(" hot") == 2
    assert "<b>1</b> with drift not repaired" in html


def test_a_run_page_lists_sampled_keys_escaped_and_links_the_exports():
    # a missing or extra row's sample has no columns (as diff.Findings records it)
    sample = [{"kind": "changed", "key": {"code": "<b>x</b>"}, "columns": ["label"]},
              {"kind": "missing", "key": {"code": "y"}}]
    html = verify.run_page({"verification_id": "verify_20260101_010000_Ab12Cd34",
                            "pairs": [_pair("pgsql_aa", "codes", "drift", missing=1, changed=1, sample=sample)]})
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert ('<li>changed: <span class="mono">{&#34;code&#34;: &#34;&lt;b&gt;x&lt;/b&gt;&#34;}</span> (label)</li>'
            in html)
    assert '<li>missing: <span class="mono">{&#34;code&#34;: &#34;y&#34;}</span></li>' in html
    assert "/backoffice/verify/verify_20260101_010000_Ab12Cd34/export.xlsx" in html
