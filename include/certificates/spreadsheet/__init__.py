"""Participants from an uploaded CSV or XLSX file, streamed row by row.

``read_participants`` yields one ``ParticipantRow`` per good row and one or more ``RowError`` per
bad row (a bad row never stops the good ones); a problem with the whole file raises
``UploadError``, whose message names the file and says what to fix.

One concern per module, each saying what it copes with and why:

* ``types``: the public types, the upload-name check, ``neutralize_cell`` and the shared limits;
* ``table``: the raw table (rows of cells, what the format knows about bad cells) and the stream;
* ``xlsx`` and ``csv_reader``: a file of each format as a table;
* ``header``: finding the header row and its columns;
* ``rows``: ``read_participants``, the tally of the rows' outcomes (duplicates, no usable rows), and
  ``detect_format`` (CSV or XLSX from the bytes, for an upload whose name may not say);
* ``converter`` and ``cells``: one row's cells into a participant or its errors, values as text;
* ``helper``: the forked process that converts the second part of a large sheet.
"""

from include.certificates.spreadsheet.helper import PARALLEL_MIN_ROWS
from include.certificates.spreadsheet.rows import detect_format, read_participants
from include.certificates.spreadsheet.types import (
    ParticipantRow,
    RowError,
    UploadError,
    check_upload_name,
    neutralize_cell,
)

__all__ = ["PARALLEL_MIN_ROWS", "ParticipantRow", "RowError", "UploadError", "check_upload_name", "detect_format",
           "neutralize_cell", "read_participants"]
