"""include.common.pdf: a batch report as paged tables, and documents of many pages sharing their
font subsets; read back with pypdf (a standard extractor)."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pypdf
import pytest
from reportlab.lib.colors import black

from include.common.pdf import report
from include.common.pdf.font import unsupported_characters
from include.common.pdf.writer import Page, document
from include.common.spreadsheet_export import Column, Sheet

AS_OF = datetime(2026, 11, 20, 14, 30, 52, tzinfo=timezone.utc)
SUMMARY = Sheet("Summary", (Column("Batch ID"), Column("Status"), Column("Duration", "duration"),
                            Column("Participants", "int"), Column("Error")), [["cert_x", "completed", 3723.4, 12000, None]])
COLUMNS = (Column("Row", "int"), Column("Participant"), Column("Status"), Column("Duration", "duration"),
           Column("Progress %", "percent"), Column("Generated (UTC)", "datetime"), Column("Error"))


def pages_of(data: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages]


def write(rows, summary=SUMMARY) -> bytes:
    return report.write_report(summary, Sheet("Participants", COLUMNS, rows), title="Certificate batch cert_x",
                               as_of=AS_OF, creator="test")


def test_every_row_on_paged_tables_with_the_header_and_title_on_every_page():
    rows = [[n, f"Peserta {n:04d}", "generated" if n % 7 else "failed", n / 100, 100.0, AS_OF,
             None if n % 7 else f"row {n}: bad e-mail"] for n in range(1, 1001)]
    pages = pages_of(write(rows))
    assert len(pages) > 10
    for number, text in enumerate(pages, start=1):
        assert text.startswith("Certificate batch cert_x") and "true as of 2026-11-20 14:30:52 UTC" in text
        assert f"page {number} of {len(pages)}" in text
        assert "Row Participant Status Duration Progress % Generated (UTC) Error" in text  # header repeats
    text = "\n".join(pages)
    assert "Participants (1,000 rows)" in pages[0] and "Batch ID cert_x" in pages[0]
    assert "Duration 01:02:03" in pages[0] and "Participants 12,000" in pages[0] and "Error -" in pages[0]
    for n in range(1, 1001):
        assert text.count(f"Peserta {n:04d}") == 1, n  # each row exactly once, none lost between pages
    assert "0.07 s" in text and "10.00 s" in text and "100.0 %" in text and "2026-11-20 14:30:52" in text
    assert "row 7: bad e-mail" in text


def test_long_values_wrap_within_their_column_and_are_cut_only_past_the_line_limit():
    medium = " ".join(f"word{i}" for i in range(40))  # a few lines: kept whole
    huge = " ".join(f"token{i}" for i in range(2000))  # more than MAX_CELL_LINES lines: ends in an ellipsis
    text = "\n".join(pages_of(write([[1, "Budi", "failed", 1.0, 50.0, None, medium],
                                     [2, "Siti", "failed", 1.0, 50.0, None, huge]])))
    flat = " ".join(text.split())
    assert medium in flat
    assert "token0 token1" in flat and "token1999" not in flat and report.ELLIPSIS in flat


def test_values_are_cleaned_for_one_line_and_missing_numbers_show_a_dash():
    text = "\n".join(pages_of(write([[None, "Budi\x1b[31m\nSantoso", None, None, None, None, None]])))
    assert "Budi [31m Santoso" in text and "\x1b" not in text
    assert report.cell_text(None, Column("x", "int")) == "-" and report.cell_text(None, Column("x")) == ""


def test_columns_fit_the_page_narrow_ones_keep_their_width():
    widths = report.fit_columns([20, 30, 400, 500], 300)
    assert widths[:2] == [20, 30] and widths[2] == widths[3] == 125 and sum(widths) == 300
    assert report.fit_columns([20, 30], 300) == [20, 30]


@pytest.mark.parametrize("width", [30.0, 80.0, 200.0])
def test_wrap_keeps_every_character_and_each_line_fits(width):
    text = "Prof. Dr. Ir. Muhammad Abdurrahman Wahid Kusumanegara-Hadiningrat-Suryodiningratan, S.T."
    lines = report.wrap(text, width, 7, max_lines=100)
    assert all(report.text_width(line, 7) <= width or len(line) == 1 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_omitted_columns_are_left_out_of_the_table():
    rows = [[1, "Budi", "generated", 0.5, 100.0, AS_OF, "/srv/output/cert_x/CERT-1.pdf"]]
    detail = Sheet("Participants", COLUMNS[:-1] + (Column("File"),), rows)
    text = pages_of(report.write_report(SUMMARY, detail, title="t", as_of=AS_OF, creator="c", omit=("File",)))[0]
    assert "Budi" in text and "/srv/output" not in text and "File" not in text


def test_report_is_deterministic_and_names_its_creator():
    rows = [[1, "Nguyễn Văn An", "generated", 0.5, 100.0, AS_OF, None]]
    assert write(rows) == write(rows)
    meta = pypdf.PdfReader(io.BytesIO(write(rows))).metadata
    assert meta.title == "Certificate batch cert_x" and meta.creator == "test"
    assert "Nguyễn Văn An" in pages_of(write(rows))[0]


def test_a_document_of_many_pages_shares_its_font_subsets():
    others = [chr(c) for c in [*range(0x100, 0x17F), *range(0x410, 0x450), *range(0x1E00, 0x1F00)]
              if not unsupported_characters(chr(c))]
    assert 255 < len(others) <= 2 * 255  # two subsets besides ASCII
    pages = []
    for i in range(3):
        page = Page(400, 300)
        page.text(f"page {i} " + "".join(others[i::3]), 10, 200, 9, black)
        pages.append(page)
    reader = pypdf.PdfReader(io.BytesIO(document(pages, title="t", subject="s", creator="c")))
    assert len(reader.pages) == 3 and reader.pages[0].mediabox.width == 400
    fonts = [page["/Resources"]["/Font"] for page in reader.pages]
    assert len(fonts[0]) == 3 and all(f == fonts[0] for f in fonts)  # ASCII + two subsets, the same objects
    for i, page in enumerate(reader.pages):
        assert f"page {i} " + "".join(others[i::3]) in page.extract_text()
    with pytest.raises(ValueError, match="at least one page"):
        document([], title="t", subject="s", creator="c")
