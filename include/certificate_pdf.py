"""One-page A4-landscape participation certificate, rendered with reportlab.

Speed matters (one PDF per participant, 100,000-row uploads), so:

* the bundled DejaVu Sans TTF is parsed and registered once per process (``_font()``); parsing it
  costs far more than a whole certificate;
* only ONE font is embedded: every embedded TTF means a per-document subset, the most expensive
  part of a reportlab save. The bold look of the title and the name is drawn with text render
  mode 2 (fill + stroke of the same regular glyphs) instead of a second, bold font file;
* the QR code's modules come from the ``qrcode`` package with a fixed mask pattern (choosing the
  "best" mask evaluates all eight and costs ~5x more; any mask is valid and scans) and are written
  as a single filled path of run-length rectangles, which is crisp at any zoom. Measured on a
  first version of this page: with reportlab's own ``QrCodeWidget`` ~17 certificates/s, with the
  ``qrcode`` package's PIL image ~56/s; the QR now costs ~1.5 ms of a ~6 ms certificate.

A name with characters the font has no glyph for would be printed blank by reportlab, without any
warning, so the name is checked against the font's cmap first and ``UnrenderableName`` is raised
naming the characters. Right-to-left text (Arabic, Hebrew) is refused as well: DejaVu has those
glyphs, but reportlab lays text out left-to-right without shaping, which prints the letters
disconnected and in reverse order.
"""

from __future__ import annotations

import threading
import unicodedata
from datetime import date
from pathlib import Path
from typing import BinaryIO

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from reportlab import rl_config
from reportlab.lib.colors import Color, HexColor
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT_FILE = FONT_DIR / "DejaVuSans.ttf"
# A name of our own, so a font another module registers as "DejaVuSans" can never replace ours.
FONT_NAME = "CertificateDejaVuSans"

PAGE_WIDTH, PAGE_HEIGHT = landscape(A4)
MARGIN = 60.0
TEXT_WIDTH = PAGE_WIDTH - 2 * 90.0
QR_SIZE = 96.0
# Fixed QR mask pattern: see the module docstring.
QR_MASK_PATTERN = 2

NAVY = HexColor("#1B2A4A")
GOLD = HexColor("#B08D3C")
GREY = HexColor("#555555")

_BIDI_RTL = frozenset({"R", "AL"})
_MONTHS_ID = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
              "September", "Oktober", "November", "Desember")

# reportlab wraps compressed page streams in ASCII85 by default, to keep PDFs 7-bit clean for
# transports nobody uses any more; encoding it in pure Python costs 7% of a certificate's render
# time (measured: 175 vs 163 PDFs/s). Process-wide: any other reportlab output in this process
# just gets plain binary streams, which every PDF reader accepts.
rl_config.useA85 = 0

_font_lock = threading.Lock()
_font_cache: dict[str, TTFont] = {}
_registrations = 0


class UnrenderableText(ValueError):
    """A text field holds characters the certificate cannot print correctly."""

    def __init__(self, field: str, text: str, characters: list[str]) -> None:
        self.field = field
        self.text = text
        self.characters = characters
        listed = ", ".join(f"'{ch}' (U+{ord(ch):04X})" for ch in characters)
        super().__init__(f"{field} {text!r} cannot be printed on the certificate: the font "
                         f"({FONT_FILE.name}) cannot render {listed}")


class UnrenderableName(UnrenderableText):
    """The participant's name cannot be printed; report the row instead of printing it blank."""

    def __init__(self, text: str, characters: list[str]) -> None:
        super().__init__("name", text, characters)


def _font() -> TTFont:
    """The registered certificate font; parsed and registered on the first call in a process only."""
    global _registrations
    font = _font_cache.get(FONT_NAME)
    if font is not None:
        return font
    with _font_lock:
        font = _font_cache.get(FONT_NAME)
        if font is None:
            font = TTFont(FONT_NAME, str(FONT_FILE))
            pdfmetrics.registerFont(font)
            _registrations += 1
            _font_cache[FONT_NAME] = font
    return font


def font_registration_count() -> int:
    """How many times this process registered the certificate font (1 after any use)."""
    return _registrations


def unsupported_characters(text: str) -> list[str]:
    """The distinct characters of ``text`` (NFC-normalised) that the certificate cannot print.

    That is characters without a glyph in the bundled font, and right-to-left characters, which
    reportlab would print in reverse order. The order is that of first appearance.
    """
    char_to_glyph = _font().face.charToGlyph
    missing: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        if ch in missing:
            continue
        if ord(ch) not in char_to_glyph or unicodedata.bidirectional(ch) in _BIDI_RTL:
            missing.append(ch)
    return missing


def format_event_date(value: date | str) -> str:
    """Indonesian long date ("5 Agustus 2025") for a date; a string is printed as given."""
    if isinstance(value, date):
        return f"{value.day} {_MONTHS_ID[value.month - 1]} {value.year}"
    return value.strip()


def qr_matrix(data: str) -> list[list[bool]]:
    """QR modules of ``data`` (error correction M, no quiet zone), rows top to bottom."""
    code = qrcode.QRCode(border=0, error_correction=ERROR_CORRECT_M, mask_pattern=QR_MASK_PATTERN)
    code.add_data(data)
    code.make(fit=True)
    return [[bool(module) for module in row] for row in code.modules]


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
    canvas = Canvas(out, pagesize=(PAGE_WIDTH, PAGE_HEIGHT), invariant=1, pageCompression=1)
    canvas.setTitle(f"Sertifikat - {fields['name']}")
    canvas.setSubject(fields["event_name"])
    canvas.setCreator("certificate_dispatch")
    canvas.setProducer("reportlab")
    _draw_frame(canvas)
    _draw_heading(canvas)
    _draw_recipient(canvas, fields["name"], fields["organization"])
    _draw_event(canvas, fields["event_name"], fields["event_date"])
    _draw_footer(canvas, fields["certificate_number"], fields["verification_url"])
    canvas.showPage()
    canvas.save()


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


def _draw_frame(canvas: Canvas) -> None:
    canvas.setStrokeColor(NAVY)
    canvas.setLineWidth(3)
    canvas.rect(28, 28, PAGE_WIDTH - 56, PAGE_HEIGHT - 56, stroke=1, fill=0)
    canvas.setStrokeColor(GOLD)
    canvas.setLineWidth(1)
    canvas.rect(36, 36, PAGE_WIDTH - 72, PAGE_HEIGHT - 72, stroke=1, fill=0)


def _draw_heading(canvas: Canvas) -> None:
    _centred(canvas, "SERTIFIKAT", PAGE_HEIGHT - 120, 40, NAVY, bold=True, char_space=6)
    _centred(canvas, "Certificate of Participation", PAGE_HEIGHT - 148, 15, GOLD)
    _centred(canvas, "Diberikan kepada / Awarded to", PAGE_HEIGHT - 200, 12, GREY)


def _draw_recipient(canvas: Canvas, name: str, organization: str) -> None:
    lines, size = _fit_lines(name, max_size=36, min_single_line_size=22)
    # Two lines start higher so the second one's descenders stay clear of the rule below.
    baseline = PAGE_HEIGHT - 250 if len(lines) == 1 else PAGE_HEIGHT - 238
    for line in lines:
        _centred(canvas, line, baseline, size, NAVY, bold=True)
        baseline -= size * 1.15
    rule_y = PAGE_HEIGHT - 275
    canvas.setStrokeColor(GOLD)
    canvas.setLineWidth(0.8)
    canvas.line(PAGE_WIDTH / 2 - 220, rule_y, PAGE_WIDTH / 2 + 220, rule_y)
    if organization:
        _centred(canvas, organization, rule_y - 22, _fit_size(organization, 14), GREY)


def _draw_event(canvas: Canvas, event_name: str, event_date: str) -> None:
    _centred(canvas, "atas partisipasinya dalam / for participating in", PAGE_HEIGHT - 330, 12, GREY)
    lines, size = _fit_lines(event_name, max_size=22, min_single_line_size=15)
    baseline = PAGE_HEIGHT - 362
    for line in lines:
        _centred(canvas, line, baseline, size, NAVY, bold=True)
        baseline -= size * 1.2
    if event_date:
        _centred(canvas, event_date, baseline - 8, 14, GREY)


def _draw_footer(canvas: Canvas, certificate_number: str, verification_url: str) -> None:
    qr_x, qr_y = PAGE_WIDTH - MARGIN - QR_SIZE, MARGIN
    _draw_qr(canvas, qr_matrix(verification_url), qr_x, qr_y, QR_SIZE)
    left = MARGIN + 10
    _left(canvas, "No. Sertifikat / Certificate No.", left, MARGIN + 40, 10, GREY)
    _left(canvas, certificate_number, left, MARGIN + 22, _fit_size(certificate_number, 13, qr_x - 20 - left), NAVY)
    # The URL is printed too, for whoever holds a paper copy and cannot scan.
    url_line = f"Verifikasi / Verify: {verification_url}"
    _left(canvas, url_line, left, MARGIN + 6, _fit_size(url_line, 8, qr_x - 20 - left), GREY)


def _draw_qr(canvas: Canvas, matrix: list[list[bool]], x: float, y: float, size: float) -> None:
    """The QR code as one filled path of horizontal runs, in module units scaled to ``size``.

    Written as raw PDF operators: building ~400 rectangles through reportlab's path objects
    formats every coordinate in Python and costs as much as the rest of the page.
    """
    count = len(matrix)
    scale = size / count
    ops = [f"q 0 0 0 rg {scale:.5f} 0 0 {scale:.5f} {x:.3f} {y:.3f} cm"]
    for row_index, row in enumerate(matrix):
        module_y = count - 1 - row_index
        column = 0
        while column < count:
            if not row[column]:
                column += 1
                continue
            start = column
            while column < count and row[column]:
                column += 1
            ops.append(f"{start} {module_y} {column - start} 1 re")
    ops.append("f Q")
    canvas.addLiteral("\n".join(ops))


def _centred(canvas: Canvas, text: str, y: float, size: float, color: Color, *, bold: bool = False,
             char_space: float = 0) -> None:
    canvas.setFont(FONT_NAME, size)
    canvas.setFillColor(color)
    if bold:
        # Text render mode 2 = fill, then stroke the outline: a bold look from the regular font.
        canvas.setStrokeColor(color)
        canvas.setLineWidth(size * 0.035)
        canvas.drawCentredString(PAGE_WIDTH / 2, y, text, mode=2, charSpace=char_space)
    else:
        canvas.drawCentredString(PAGE_WIDTH / 2, y, text, charSpace=char_space)


def _left(canvas: Canvas, text: str, x: float, y: float, size: float, color: Color) -> None:
    canvas.setFont(FONT_NAME, size)
    canvas.setFillColor(color)
    canvas.drawString(x, y, text)


def _fit_size(text: str, max_size: float, width: float = TEXT_WIDTH) -> float:
    """The largest font size up to ``max_size`` at which ``text`` fits on one line of ``width``."""
    natural = pdfmetrics.stringWidth(text, FONT_NAME, max_size)
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
