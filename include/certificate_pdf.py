"""One-page A4-landscape participation certificate, rendered with reportlab.

Speed matters (one PDF per participant, 100,000-row uploads), so:

* the bundled DejaVu Sans TTF is parsed and registered once per process (``_font()``); parsing it
  costs far more than a whole certificate;
* only ONE font is embedded: every embedded TTF means a per-document subset, the most expensive
  part of a reportlab save. The bold look of the title and the name is drawn with text render
  mode 2 (fill + stroke of the same regular glyphs) instead of a second, bold font file;
* the QR code uses a fixed mask pattern (choosing the "best" one evaluates all eight and costs ~5x
  more; any mask is valid and scans) and is drawn as one filled path of run-length rectangles,
  crisp at any zoom. ``qr_matrix`` takes 0.3 ms where ``qrcode.QRCode.make`` takes 1.05 ms (a fifth
  of a whole certificate): it reuses ``qrcode``'s per-version parts and runs its own
  table-driven error correction and placement, checked module for module against ``qrcode``.
  Measured on a first version of this page: with reportlab's own ``QrCodeWidget`` ~17
  certificates/s, with the ``qrcode`` package's PIL image ~56/s.

A name with characters the font has no glyph for would be printed blank by reportlab, without any
warning, so the name is checked against the font's cmap first and ``UnrenderableName`` is raised
naming the characters. Right-to-left text (Arabic, Hebrew) is refused as well: DejaVu has those
glyphs, but reportlab lays text out left-to-right without shaping, which prints the letters
disconnected and in reverse order.
"""

from __future__ import annotations

import functools
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO

import qrcode
from qrcode.base import rs_blocks
from qrcode.constants import ERROR_CORRECT_M
from qrcode.util import mask_func
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
    """QR modules of ``data`` (UTF-8, byte mode, error correction M), rows top to bottom, no quiet zone.

    The same matrix as the ``qrcode`` package makes with this mask and a single byte-mode segment
    (the tests compare them), in under a third of the time: ``qrcode`` supplies the per-version parts
    (block table, finder/timing/alignment patterns, format and version bits), computed once per
    version; only the error correction and the placement of the data bits run per certificate,
    with table-driven code.
    """
    payload = data.encode("utf-8")
    layout = _qr_layout(_qr_version(len(payload)))
    codewords = _qr_codewords(payload, layout)
    # The codewords as a string of bits (a 1 set above them keeps their leading zeros; [3:] drops
    # "0b1"), then the remainder bits, which are zero; each lands on its module XOR the mask.
    bits = bin(int.from_bytes(codewords, "big") | 1 << (8 * len(codewords)))[3:]
    bits += "0" * (len(layout.cells) - len(bits))
    matrix = [list(row) for row in layout.base]
    for (row, column, flip), bit in zip(layout.cells, bits, strict=True):
        matrix[row][column] = (bit == "1") is not flip
    return matrix


@dataclass(frozen=True)
class _QrLayout:
    """What a QR version looks like before data: computed once per version."""

    version: int
    base: tuple[tuple[bool, ...], ...]           # function patterns; data modules False
    cells: tuple[tuple[int, int, bool], ...]     # data modules in placement order, and the mask
    blocks: tuple[tuple[int, int], ...]          # (data codewords, error correction codewords)
    count_bits: int                              # width of the byte-mode length field


_QR_PAD_BYTES = (0xEC, 0x11)
_QR_MAX_VERSION = 40


def _qr_version(length: int) -> int:
    """The smallest version whose data capacity holds a byte-mode segment of ``length`` bytes."""
    for version in range(1, _QR_MAX_VERSION + 1):
        count_bits = 8 if version < 10 else 16
        if 4 + count_bits + 8 * length <= 8 * _qr_capacity(version):
            return version
    raise ValueError(f"verification URL too long for a QR code ({length} bytes)")


@functools.cache
def _qr_capacity(version: int) -> int:
    return sum(block.data_count for block in rs_blocks(version, ERROR_CORRECT_M))


@functools.cache
def _qr_layout(version: int) -> _QrLayout:
    size = version * 4 + 17
    template = qrcode.QRCode(version=version, error_correction=ERROR_CORRECT_M, mask_pattern=QR_MASK_PATTERN)
    template.modules_count = size
    template.modules = [[None] * size for _ in range(size)]
    template.setup_position_probe_pattern(0, 0)
    template.setup_position_probe_pattern(size - 7, 0)
    template.setup_position_probe_pattern(0, size - 7)
    template.setup_position_adjust_pattern()
    template.setup_timing_pattern()
    template.setup_type_info(False, QR_MASK_PATTERN)
    if version >= 7:
        template.setup_type_number(False)
    modules = template.modules
    masked = mask_func(QR_MASK_PATTERN)
    cells = tuple((row, column, bool(masked(row, column))) for row, column in _qr_zigzag(size)
                  if modules[row][column] is None)
    blocks = tuple((block.data_count, block.total_count - block.data_count)
                   for block in rs_blocks(version, ERROR_CORRECT_M))
    return _QrLayout(version, tuple(tuple(bool(module) for module in row) for row in modules), cells, blocks,
                     8 if version < 10 else 16)


def _qr_zigzag(size: int) -> Iterator[tuple[int, int]]:
    """Every module in data placement order: two-column strips from the right, up then down,
    skipping the vertical timing column."""
    upward = True
    right = size - 1
    while right > 0:
        if right == 6:
            right -= 1
        rows = range(size - 1, -1, -1) if upward else range(size)
        for row in rows:
            yield row, right
            yield row, right - 1
        upward = not upward
        right -= 2


def _qr_codewords(payload: bytes, layout: _QrLayout) -> bytes:
    """Data codewords (mode, length, bytes, terminator, padding) and error correction, interleaved."""
    capacity = sum(data_count for data_count, _ in layout.blocks)
    # Mode indicator 0100 (bytes), the length, the bytes: as one integer of `used` bits.
    value = (0b0100 << layout.count_bits | len(payload)) << 8 * len(payload) | int.from_bytes(payload, "big")
    used = 4 + layout.count_bits + 8 * len(payload)
    # Up to four 0 bits of terminator, then 0 bits up to a whole byte.
    terminator = min(4, 8 * capacity - used)
    zero_bits = terminator + (-(used + terminator) % 8)
    data = (value << zero_bits).to_bytes((used + zero_bits) // 8, "big")
    data += bytes(_QR_PAD_BYTES[index % 2] for index in range(capacity - len(data)))
    blocks: list[tuple[bytes, bytes]] = []
    offset = 0
    for data_count, ecc_count in layout.blocks:
        chunk = data[offset:offset + data_count]
        offset += data_count
        blocks.append((chunk, _rs_remainder(chunk, ecc_count)))
    out = bytearray()
    for part in (0, 1):
        for index in range(max(len(block[part]) for block in blocks)):
            out.extend(block[part][index] for block in blocks if index < len(block[part]))
    return bytes(out)


# GF(256) with the QR polynomial x^8 + x^4 + x^3 + x^2 + 1; _GF_EXP is doubled to skip a modulo.
_GF_EXP = [0] * 512
_GF_LOG = [0] * 256


def _init_gf() -> None:
    value = 1
    for power in range(255):
        _GF_EXP[power] = _GF_EXP[power + 255] = value
        _GF_LOG[value] = power
        value <<= 1
        if value & 0x100:
            value ^= 0x11D


_init_gf()


@functools.cache
def _rs_generator(degree: int) -> tuple[int, ...]:
    """Logs of the generator polynomial's coefficients (x - a^0)...(x - a^(degree-1)), leading 1 left out."""
    coefficients = [1]
    for power in range(degree):
        shifted = [0, *(_GF_EXP[_GF_LOG[c] + power] if c else 0 for c in coefficients)]
        coefficients = [a ^ b for a, b in zip([*coefficients, 0], shifted, strict=True)]
    return tuple(_GF_LOG[c] for c in coefficients[1:])


@functools.cache
def _rs_products(degree: int) -> tuple[int, ...]:
    """For each byte value f, f times the generator as one ``degree``-byte integer (what the long
    division XORs into the remainder), so a data byte costs one lookup instead of a loop."""
    generator = _rs_generator(degree)
    products = [0]
    for factor in range(1, 256):
        log_factor = _GF_LOG[factor]
        products.append(int.from_bytes(bytes(_GF_EXP[log_factor + g] for g in generator), "big"))
    return tuple(products)


def _rs_remainder(data: bytes, degree: int) -> bytes:
    """Reed-Solomon error correction codewords of ``data`` (the division's remainder)."""
    products = _rs_products(degree)
    mask = (1 << 8 * degree) - 1
    top = 8 * (degree - 1)
    remainder = 0
    for byte in data:
        remainder = ((remainder << 8) & mask) ^ products[byte ^ (remainder >> top)]
    return remainder.to_bytes(degree, "big")


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
