"""The downloads of a batch's page: the job's report (``branch_sync.export`` /
``certificates.export``) written as the CLI's ``export`` writes it: xlsx (the summary and the
detail sheet), CSV (the detail sheet) or PDF (both, paged, true as of the newest row); and the
sheets of other reports (a verification's) as xlsx or CSV."""

from __future__ import annotations

import io
from collections.abc import Sequence

from fastapi.responses import Response

from include.branch_sync import export as sync_export
from include.certificates import export as cert_export
from include.common.db import Database
from include.common.spreadsheet_export import Sheet, write_csv, write_xlsx
from include.console import params

MEDIA = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "csv": "text/csv; charset=utf-8",
         "pdf": "application/pdf"}
SHEET_FORMATS = ("xlsx", "csv")


def write_sheets(sheets: Sequence[Sheet], fmt: str, csv_sheet: int = 1) -> bytes:
    """xlsx: every sheet; CSV: the sheet at ``csv_sheet`` (the detail sheet of a batch report)."""
    out = io.BytesIO()
    if fmt == "xlsx":
        write_xlsx(sheets, out)
    else:
        write_csv(sheets[csv_sheet], out)
    return out.getvalue()


def export_batch(db: Database, kind: str, batch_id: str, fmt: str) -> bytes:
    """The download, as the CLI's ``export`` writes it (xlsx: the summary and the detail sheet;
    CSV: the detail sheet; PDF: both, paged, true as of the newest row). :class:`LookupError` for
    an unknown id."""
    job_export = sync_export if kind == "sync" else cert_export
    batch, items = job_export.read_batch(db, batch_id)
    if fmt == "pdf":
        return job_export.pdf_for(batch, items)
    return write_sheets(job_export.sheets_for(batch, items), fmt)


def export_format(fmt: str, allowed: Sequence[str] = tuple(MEDIA)) -> str:
    if fmt not in allowed:
        raise params.BadRequest(f"export format must be one of {', '.join(allowed)}, not {fmt!r}")
    return fmt


def response(content: bytes, filename: str, fmt: str) -> Response:
    return Response(content, media_type=MEDIA[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
