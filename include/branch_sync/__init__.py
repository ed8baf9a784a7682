"""The ``branch_sync`` job: branch ERP tables into the central database, one mapped task per
(branch, table), exact per-table progress, resumable.

``spec`` (what the DAG file needs at parse time) · ``config`` (the YAML, validated) · ``tasks``
(plan, sync, finalize) · ``callbacks`` (tracking rows change state) · ``tracking``
(``sync_batches``/``sync_progress``, the one finalize) · ``checkpoint`` (``sync_state``) ·
``engine`` (one pair's sync, orchestration only) · ``reader`` (a source table in one snapshot) ·
``wire`` (the form rows travel in, chosen by the writer) · ``prefetch`` (the read a step ahead of
the write) · ``columns`` (target DDL) · ``writers/``
(one per target dialect) · ``pools`` · ``reconcile``
(repair from Airflow's task states) · ``report`` (the seed's status tables) · ``queries`` (pages
of batches and a batch's detail for the console) · ``stats`` (history: the seed's queries, durations
over time) · ``stuck`` (why waiting tables do not start) · ``export`` (the batch report's sheets).
"""
