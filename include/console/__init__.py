"""The operator's console inside the Airflow UI (issue 11): pages and a JSON API over the tracking
tables, mounted by the thin plugin ``plugins/backoffice.py`` at ``/backoffice``.

Sits on top, like ``cli``: it may import the jobs; nothing imports it. One concern per module:

* ``params``   request values checked against fixed rules (ids, paging, filters, sort keys): a
               ``BadRequest`` names what is wrong; no identifier ever comes from request text.
* ``reader``   counted reads: every page runs a fixed number of statements, whatever the rows.
* ``sync``     the sync pages' queries (list, detail, history) over ``sync_batches``/``sync_progress``.
* ``certs``    certificate batches and their participants (``app_db``); the PDF confined to the output base.
* ``whatsapp`` the accounts of ``app_db.whatsapp_accounts`` with their audit and flap-guard metadata.
* ``charts``   server-side SVG charts (line, bars); pure.
* ``html``     the page layout, tables, badges in the seed's colours, the live-refresh script; pure.
* ``pages``    one render function per page, from the query results; pure.
* (downloads: ``app.export_batch`` writes the jobs' report sheets with ``common.spreadsheet_export``.)
* ``actions``  Resume / Retry through Airflow's REST API with the user's own token.
* ``app``      the FastAPI app: routes, Airflow's auth dependencies, errors.
"""
