"""One-page A4-landscape participation certificate: what goes where on the page, and at what size.

``render_certificate`` checks the fields against the font (see ``font``), draws the page with
``include.common.pdf.writer.Page`` and writes it out; the QR code comes from ``qr``. Long names and event names are
fitted to the page: one line that shrinks, or two balanced lines (``_fit_lines``).
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import BinaryIO

from reportlab.lib.colors import HexColor

from include.certificates.pdf.font import UnrenderableName, UnrenderableText
from include.certificates.pdf.qr import qr_matrix
from include.common.pdf.font import string_width, unsupported_characters
from include.common.pdf.writer import PAGE_HEIGHT, PAGE_WIDTH, Page

MARGIN = 60.0
TEXT_WIDTH = PAGE_WIDTH - 2 * 90.0
QR_SIZE = 96.0

NAVY = HexColor("#1B2A4A")
GOLD = HexColor("#B08D3C")
GREY = HexColor("#555555")

_MONTHS_ID = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
              "September", "Oktober", "November", "Desember")


def format_event_date(value: date | str) -> str:
    """Indonesian long date ("5 Agustus 2025") for a date; a string is printed as given."""
    if isinstance(value, date):
        return f"{value.day} {_MONTHS_ID[value.month - 1]} {value.year}"
    return value.strip()


def render_certificate(out: BinaryIO, *, name: str, event_name: str, event_date: date | str,
                       certificate_number: str, verification_url: str,
                       organization: str | None = None) -> None:
    """Write one certificate PDF to ``out``.

    Raises ``UnrenderableName`` when the name has characters the font cannot print, and
    ``UnrenderableText`` (its base class) for the same problem in the other fields, before anything
    is written. The output is byte-for-byte deterministic for the same arguments.
    """
    fields = _checked_fields(name=name, event_name=event_name, event_date=format_event_date(event_date),
                             certificate_number=certificate_number, verification_url=verification_url,
                             organization=organization or "")
    page = Page()
    _draw_frame(page)
    _draw_heading(page)
    _draw_recipient(page, fields["name"], fields["organization"])
    _draw_event(page, fields["event_name"], fields["event_date"])
    _draw_footer(page, fields["certificate_number"], fields["verification_url"])
    out.write(page.pdf(title=f"Sertifikat - {fields['name']}", subject=fields["event_name"],
                       creator="certificate_dispatch"))


def _checked_fields(**fields: str) -> dict[str, str]:
    """NFC-normalised, whitespace-collapsed fields; raises for characters the font cannot print."""
    cleaned: dict[str, str] = {}
    for field, value in fields.items():
        text = " ".join(unicodedata.normalize("NFC", value).split())
        missing = unsupported_characters(text)
        if missing:
            raise UnrenderableName(text, missing) if field == "name" else UnrenderableText(field, text, missing)
        cleaned[field] = text
    if not cleaned["name"]:
        raise ValueError("name is empty")
    return cleaned


def _draw_frame(page: Page) -> None:
    page.rect(28, 28, PAGE_WIDTH - 56, PAGE_HEIGHT - 56, NAVY, 3)
    page.rect(36, 36, PAGE_WIDTH - 72, PAGE_HEIGHT - 72, GOLD, 1)


def _draw_heading(page: Page) -> None:
    page.centred("SERTIFIKAT", PAGE_HEIGHT - 120, 40, NAVY, bold=True, char_space=6)
    page.centred("Certificate of Participation", PAGE_HEIGHT - 148, 15, GOLD)
    page.centred("Diberikan kepada / Awarded to", PAGE_HEIGHT - 200, 12, GREY)


def _draw_recipient(page: Page, name: str, organization: str) -> None:
    lines, size = _fit_lines(name, max_size=36, min_single_line_size=22)
    # Two lines start higher so the second one's descenders stay clear of the rule below.
    baseline = PAGE_HEIGHT - 250 if len(lines) == 1 else PAGE_HEIGHT - 238
    for line in lines:
        page.centred(line, baseline, size, NAVY, bold=True)
        baseline -= size * 1.15
    rule_y = PAGE_HEIGHT - 275
    page.line(PAGE_WIDTH / 2 - 220, rule_y, PAGE_WIDTH / 2 + 220, rule_y, GOLD, 0.8)
    if organization:
        page.centred(organization, rule_y - 22, _fit_size(organization, 14), GREY)


def _draw_event(page: Page, event_name: str, event_date: str) -> None:
    page.centred("atas partisipasinya dalam / for participating in", PAGE_HEIGHT - 330, 12, GREY)
    lines, size = _fit_lines(event_name, max_size=22, min_single_line_size=15)
    baseline = PAGE_HEIGHT - 362
    for line in lines:
        page.centred(line, baseline, size, NAVY, bold=True)
        baseline -= size * 1.2
    if event_date:
        page.centred(event_date, baseline - 8, 14, GREY)


def _draw_footer(page: Page, certificate_number: str, verification_url: str) -> None:
    qr_x, qr_y = PAGE_WIDTH - MARGIN - QR_SIZE, MARGIN
    page.qr(qr_matrix(verification_url), qr_x, qr_y, QR_SIZE)
    left = MARGIN + 10
    page.text("No. Sertifikat / Certificate No.", left, MARGIN + 40, 10, GREY)
    page.text(certificate_number, left, MARGIN + 22, _fit_size(certificate_number, 13, qr_x - 20 - left), NAVY)
    # The URL is printed too, for whoever holds a paper copy and cannot scan.
    url_line = f"Verifikasi / Verify: {verification_url}"
    page.text(url_line, left, MARGIN + 6, _fit_size(url_line, 8, qr_x - 20 - left), GREY)



def _fit_size(text: str, max_size: float, width: float = TEXT_WIDTH) -> float:
    """The largest font size up to ``max_size`` at which ``text`` fits on one line of ``width``."""
    natural = string_width(text, max_size)
    return max_size if natural <= width else max_size * width / natural


def _fit_lines(text: str, *, max_size: float, min_single_line_size: float) -> tuple[list[str], float]:
    """One line when it fits at ``min_single_line_size`` or more; otherwise two balanced lines.

    Two lines are used only when they allow a larger size than one line; a text without spaces
    stays on one line and shrinks, so it always fits the page.
    """
    single = _fit_size(text, max_size)
    if single >= min_single_line_size or " " not in text:
        return [text], single
    words = text.split(" ")
    best: tuple[list[str], float] = ([text], single)
    for cut in range(1, len(words)):
        lines = [" ".join(words[:cut]), " ".join(words[cut:])]
        size = min(_fit_size(line, max_size) for line in lines)
        if size > best[1]:
            best = (lines, size)
    return best
