"""The ``sync_verify`` job: is central still equal to the branches? Compares every synced
(branch, table) pair inside both databases, classifies the differences, and repairs them through
the sync's own writer on request.

``spec`` (what the DAG file needs at parse time) · ``tasks`` (plan, verify a unit, finalize) ·
``callbacks`` (tracking rows of a try that ended without recording) · ``tracking``
(``sync_verifications``) · ``engine`` (one pair: snapshots, checksums, fetch, repair) ·
``fields`` (each column's canonical text in SQL, per side) · ``diff`` (pure: buckets, bisection,
merge, classification) · ``queries`` (latest verification per table, runs, a run's rows, for the
CLI and the console) · ``notify`` (the notice when drift is found or repaired) · ``export``
(a run's sheets).

It reuses the sync's config, reader, writers and checkpoints (``branch_sync.config``,
``reader``, ``writers``, ``checkpoint``, ``engine``, ``pools``), so a verification reads and
writes exactly as a sync does.
"""
