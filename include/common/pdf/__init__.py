"""PDF written directly, with the bundled DejaVu Sans in subsets; knows no job.

* ``font``: the bundled font, which characters it can print, text widths;
* ``writer``: pages (text, lines, rectangles, QR modules) and the document, one page or many;
* ``report``: a batch report (a summary sheet and a detail sheet of ``common.spreadsheet_export``)
  as paged tables, for ``export --format pdf`` and the console's download.
"""
