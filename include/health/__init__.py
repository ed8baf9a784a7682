"""The ``health_reconcile`` job: WhatsApp sessions against the service, batch progress repaired
from Airflow's task states, old tracking rows deleted, an interrupted sync batch resumed.

``spec`` (parse time) · ``tasks`` · ``notices`` (alerts and the batch-notice sweep) · ``resume``
(the automatic resume: its settings, the pure ``decide``, the attempt written and announced) ·
``whatsapp/`` (the service client and its adapters, settings, the pure ``decide``, accounts,
metadata, the reconcile run, its summary, ``status``: every account as ``whatsapp-status`` and the
console show it). The progress repair reads the other jobs' tracking modules
(``branch_sync.reconcile``, ``certificates.batches``).
"""
