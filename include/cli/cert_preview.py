"""``cert-preview``: what ``certificate_dispatch`` will find in an upload, before anything runs (the
console's upload form shows the same): the format read from the bytes, the header row and its
columns, the participants that will get a certificate, the first of them, and the rows that will
fail and why. Reads a local file; stores nothing, opens no connection."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from include.cli.common import PROG, CliError, positive_int


def add_cert_preview(sub: Any) -> None:
    p = sub.add_parser(
        "cert-preview", help="preview a participants file (CSV/XLSX) as certificate_dispatch will read it",
        description="Read a participants file as certificate_dispatch's prepare task will, and say what it "
                    "found: the format (from the bytes, not the name), the header row and how each column is "
                    "read, the participants that will get a certificate, the first of them, and the rows that "
                    "will fail and why (bad rows, and names the certificate font cannot print). Exit 1 with the "
                    "reason when the file cannot be used at all (no name column, no usable row, not a CSV or "
                    "XLSX file).",
        epilog=f"examples:\n  {PROG} cert-preview peserta.xlsx\n  {PROG} cert-preview hadir.csv --rows 20 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", help="the CSV or XLSX file")
    p.add_argument("--rows", type=positive_int, default=10, metavar="N", help="first participants shown (default 10)")
    p.add_argument("--problems", type=positive_int, default=200, metavar="N",
                   help="failing rows listed (default 200; all are counted)")
    p.add_argument("--json", action="store_true", help="print stable, machine-readable JSON")
    p.set_defaults(func=cmd_cert_preview, parser=p)


def cmd_cert_preview(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from include.certificates.preview import preview_upload
    from include.certificates.spreadsheet import UploadError

    path = Path(args.file)
    try:
        with path.open("rb") as source:
            preview = preview_upload(source, path.name, first_rows=args.rows, max_problems=args.problems)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UploadError as exc:
        raise CliError(f"refused: {exc}") from None
    if args.json:
        out.write(json.dumps(preview.to_json(), ensure_ascii=False, indent=2) + "\n")
    else:
        out.write(render(preview) + "\n")
    return 0


def render(preview: Any) -> str:
    from include.common.text import EMPTY, format_count, render_table, truncate

    lines = [f"{preview.filename}: {preview.format_name}, {format_count(preview.size)} bytes"
             + (f", {preview.where}" if preview.where else "") + f"; header at row {preview.header_row}",
             f"  {format_count(preview.participants)} participant(s) will get a certificate; "
             f"{format_count(preview.failing_rows)} row(s) will fail", "", "Columns"]
    lines.append(render_table(("Column", "Header", "Read as"), [
        (c.letter, truncate(c.title, 40), c.field or "extra column") for c in preview.columns]))
    if preview.missing_fields:
        lines.append(f"Not in the file (certificates are made without them): {', '.join(preview.missing_fields)}")
    lines += ["", f"First {len(preview.first_rows)} participant(s)"]
    lines.append(render_table(("Row", "Name", "E-mail", "Phone", "Organization", "Position"), [
        (str(r["row_number"]), *(truncate(r[k] or EMPTY, 40) for k in ("name", "email", "phone", "organization",
                                                                      "position")))
        for r in preview.first_rows]))
    lines += ["", "Rows that will fail"]
    if preview.problems:
        lines.append(render_table(("Row", "Column", "Why", "When"), [
            (str(p.row_number), truncate(p.column or EMPTY, 30), truncate(p.message, 100),
             "prepare (recorded failed)" if p.when == "prepare" else "generate") for p in preview.problems]))
        if len(preview.problems) < preview.failing_rows:
            lines.append(f"(the first {len(preview.problems)} of {format_count(preview.failing_rows)}; --problems N "
                         "lists more)")
    else:
        lines.append("None: every row has what a certificate needs.")
    return "\n".join(lines)
