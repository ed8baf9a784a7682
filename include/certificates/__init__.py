"""The ``certificate_dispatch`` job: one PDF per participant of an uploaded CSV/XLSX (or of the
employees table), exact per-participant tracking in ``app_db``.

``spec`` (parse time) · ``tasks`` (prepare, generate, finalize) · ``callbacks`` · ``uploads`` (the
file param, confined to the upload base; participants; storing a console upload) · ``batches``
(tables, create, record, derive, the one finalize, reconcile, housekeeping) · ``generate`` (a
chunk's PDFs) · ``spreadsheet/`` (CSV and XLSX reading) · ``preview`` (what an upload holds, before
anything runs: ``cert-preview`` and the console's upload form) · ``pdf/`` (the certificate's layout
and QR code, drawn with the kernel's PDF writer, ``common.pdf``) · ``status`` (pages of batches and
a batch's participants for ``cert-status`` and the console) · ``export`` (the batch report's sheets
and PDF).
"""
