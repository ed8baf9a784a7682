"""The operator's console inside the Airflow UI (issue 11): pages and a JSON API over the tracking
tables, mounted by the thin plugin ``plugins/backoffice.py`` at ``/backoffice``.

Sits on top, like ``cli``: it may import the jobs; nothing imports it. One concern per module:

* ``params``   request values checked against fixed rules (ids, paging, filters, sort keys): a
               ``BadRequest`` names what is wrong; no identifier ever comes from request text.
* ``reader``   counted reads: every page runs a fixed number of statements, whatever the rows.
* ``sync``     the sync pages' queries (list, detail, history) over ``sync_batches``/``sync_progress``.
* ``certs``    certificate batches and their participants (``app_db``); the PDF confined to the output base.
* ``verify``   the verification pages' reads and page functions (``sync_verify.queries``).
* ``charts``   server-side SVG charts (line, bars): their geometry; pure.
* ``html``     the Jinja2 environment (autoescape) over ``templates/`` (one per page, a base layout,
               macros, the SVG charts, scripts); the helpers templates call.
* ``pages``    one render function per page, passing the query results to its template; pure.
* ``downloads`` a batch's report as xlsx, CSV (``common.spreadsheet_export``) or PDF (``common.pdf.report``).
* ``upload``   a certificate batch from an uploaded file: the checks before anything is stored,
               the store and the preview (``certificates.preview``), the confirmed start's params.
* ``forms``    the form posts (the upload, the start): read asynchronously, blocking work in the thread
               pool, another origin refused.
* ``actions``  Resume / Retry / a new certificate batch through Airflow's REST API with the user's own token.
* ``app``      the FastAPI app: routes, Airflow's auth dependencies, errors.
"""
