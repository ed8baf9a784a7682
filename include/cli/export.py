"""``export``: one batch's report (sync or certificates) as ``.xlsx``, CSV or PDF."""

from __future__ import annotations

import argparse
import io
import os
import tempfile
from pathlib import Path
from typing import Any, TextIO

from include.cli.common import PROG, CliError, open_database, query_error, resolve_conn_id

KINDS = {"sync": "sync", "cert": "certificates"}
FORMATS = ("xlsx", "csv", "pdf")


def add_export(sub: Any) -> None:
    p = sub.add_parser(
        "export", help="export a sync or certificate batch report as .xlsx, CSV or PDF",
        description="Write a batch report: a summary sheet and a detail sheet (one row per table pair or per "
                    "participant). xlsx: frozen header, filters, column widths, numbers as numbers, durations as "
                    "[h]:mm:ss time values. CSV (one sheet; --sheet): durations in seconds. Text that a "
                    "spreadsheet would run as a formula (= + - @) stays text. PDF: the summary and every detail "
                    "row on A4 landscape pages, true as of the newest of the batch's rows, text extractable.",
        epilog=f"examples:\n  {PROG} export sync_20251108_143052_aB3dEf9h\n"
               f"  {PROG} export cert_20251108_143052_aB3dEf9h -o report.csv\n"
               f"  {PROG} export cert_20251108_143052_aB3dEf9h --format pdf\n"
               f"  {PROG} export sync_20251108_143052_aB3dEf9h --format csv --sheet summary -o -",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("batch_id", help="sync_YYYYmmdd_HHMMSS_xxxxxxxx or cert_YYYYmmdd_HHMMSS_xxxxxxxx")
    p.add_argument("-o", "--output", metavar="FILE", default=None,
                   help="where to write (default: BATCH_ID.xlsx, .csv or .pdf in the current directory; - for stdout)")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="file format (default: from the -o extension, else xlsx)")
    p.add_argument("--sheet", choices=("summary", "detail"), default="detail",
                   help="with csv: which sheet to write (default detail)")
    p.add_argument("--conn", metavar="CONN_ID", default=None,
                   help="database with the sync tracking tables (default: 'target' of the sync config)")
    p.add_argument("--app-conn", metavar="CONN_ID", default="app_db",
                   help="database with the certificate tracking tables (default: app_db)")
    p.set_defaults(func=cmd_export, parser=p)


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    suffix = Path(args.output).suffix.lower() if args.output and args.output != "-" else ""
    return suffix[1:] if suffix[1:] in FORMATS else "xlsx"


def cmd_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from include.common.batches import batch_id_prefix

    parser: argparse.ArgumentParser = args.parser
    try:
        prefix = batch_id_prefix(args.batch_id)
    except ValueError as exc:
        parser.error(str(exc))
    if prefix not in KINDS:
        parser.error(f"batch id {args.batch_id!r}: unknown kind {prefix!r} (sync_... or cert_...)")
    fmt = _format(args)
    if fmt != "csv" and args.sheet != "detail":
        parser.error(f"--sheet applies to --format csv (an {fmt} holds both sheets)")

    if prefix == "sync":
        from include.branch_sync import export as job_export

        conn_id = resolve_conn_id(args.conn)
    else:
        from include.certificates import export as job_export  # type: ignore[no-redef]

        conn_id = args.app_conn
    db = open_database(conn_id, out)
    try:
        batch, items = job_export.read_batch(db, args.batch_id)
    except LookupError as exc:
        raise CliError(f"{exc} (connection {conn_id!r})") from None
    except Exception as exc:
        raise query_error(exc, conn_id) from None
    finally:
        db.close()
    sheets = job_export.sheets_for(batch, items)
    summary, detail = sheets
    pdf = job_export.pdf_for(batch, items) if fmt == "pdf" else None
    _write(sheets, fmt, args, summary if args.sheet == "summary" else detail, out, pdf)
    return 0


def _write(sheets: Any, fmt: str, args: argparse.Namespace, csv_sheet: Any, out: TextIO,
           pdf: bytes | None = None) -> None:
    from include.common.spreadsheet_export import write_csv, write_xlsx

    def write(target: Any) -> None:
        if pdf is not None:
            target.write(pdf)
        elif fmt == "xlsx":
            write_xlsx(sheets, target)
        else:
            write_csv(csv_sheet, target)

    if args.output == "-":
        out.flush()
        binary = getattr(out, "buffer", None)
        if binary is not None:
            write(binary)
            binary.flush()
        elif fmt == "csv":  # a text stream (main() called in process): the CSV as text
            buffer = io.BytesIO()
            write(buffer)
            out.write(buffer.getvalue().decode("utf-8"))
        else:
            raise CliError(f"-o - needs a binary standard output for {fmt}; give a file name")
        return
    path = Path(args.output or f"{args.batch_id}.{fmt}")
    # Written beside the target and renamed: a failure never leaves half a report under its name.
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent if str(path.parent) else ".")
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    rows = len(csv_sheet.rows) if fmt == "csv" else len(sheets[1].rows)
    out.write(f"{path}: {args.batch_id}, {rows} {'row' if rows == 1 else 'rows'} ({fmt})\n")
