"""One-page A4-landscape participation certificate, written as PDF directly.

Speed matters (one PDF per participant, 100,000-row uploads), so:

* the page is written as PDF operators and objects by this module (see "PDF writing" below);
  reportlab supplies the TrueType parsing, the font subsetter and the ToUnicode map. reportlab's
  canvas subsetted and compressed the font again for every document and serialised through a
  generic object model: two thirds of a certificate's time (measured: 195 certificates/s with
  the canvas, against 265/s for a bare canvas with one line of text, on the same machine);
* the bundled DejaVu Sans TTF is parsed and registered once per process (``_font()``); parsing it
  costs far more than a whole certificate. Its subsets are made and compressed once per process
  and set of characters (``_embedded_subset``);
* only ONE font is embedded. The bold look of the title and the name is drawn with text render
  mode 2 (fill + stroke of the same regular glyphs) instead of a second, bold font file;
* the QR code uses a fixed mask pattern (choosing the "best" one evaluates all eight and costs ~5x
  more; any mask is valid and scans) and is drawn as one filled path of run-length rectangles,
  crisp at any zoom. ``qr_matrix`` takes 0.3 ms where ``qrcode.QRCode.make`` takes 1.05 ms: it
  reuses ``qrcode``'s per-version parts and runs its own table-driven error correction and
  placement, checked module for module against ``qrcode``.

A name with characters the font has no glyph for would be printed blank (a PDF viewer shows the
font's .notdef glyph or nothing), so the name is checked against the font's cmap first and
``UnrenderableName`` is raised naming the characters. Right-to-left text (Arabic, Hebrew) is
refused as well: DejaVu has those glyphs, but text is laid out left-to-right without shaping,
which would print the letters disconnected and in reverse order.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import unicodedata
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO, Final, NamedTuple

import qrcode
from qrcode.base import rs_blocks
from qrcode.constants import ERROR_CORRECT_M
from qrcode.util import mask_func
from reportlab.lib.colors import Color, HexColor
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import FF_NONSYMBOLIC, FF_SYMBOLIC, TTFont, makeToUnicodeCMap

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
    page = _Page()
    _draw_frame(page)
    _draw_heading(page)
    _draw_recipient(page, fields["name"], fields["organization"])
    _draw_event(page, fields["event_name"], fields["event_date"])
    _draw_footer(page, fields["certificate_number"], fields["verification_url"])
    out.write(page.pdf(title=f"Sertifikat - {fields['name']}", subject=fields["event_name"]))


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


def _draw_frame(page: _Page) -> None:
    page.rect(28, 28, PAGE_WIDTH - 56, PAGE_HEIGHT - 56, NAVY, 3)
    page.rect(36, 36, PAGE_WIDTH - 72, PAGE_HEIGHT - 72, GOLD, 1)


def _draw_heading(page: _Page) -> None:
    page.centred("SERTIFIKAT", PAGE_HEIGHT - 120, 40, NAVY, bold=True, char_space=6)
    page.centred("Certificate of Participation", PAGE_HEIGHT - 148, 15, GOLD)
    page.centred("Diberikan kepada / Awarded to", PAGE_HEIGHT - 200, 12, GREY)


def _draw_recipient(page: _Page, name: str, organization: str) -> None:
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


def _draw_event(page: _Page, event_name: str, event_date: str) -> None:
    page.centred("atas partisipasinya dalam / for participating in", PAGE_HEIGHT - 330, 12, GREY)
    lines, size = _fit_lines(event_name, max_size=22, min_single_line_size=15)
    baseline = PAGE_HEIGHT - 362
    for line in lines:
        page.centred(line, baseline, size, NAVY, bold=True)
        baseline -= size * 1.2
    if event_date:
        page.centred(event_date, baseline - 8, 14, GREY)


def _draw_footer(page: _Page, certificate_number: str, verification_url: str) -> None:
    qr_x, qr_y = PAGE_WIDTH - MARGIN - QR_SIZE, MARGIN
    page.qr(qr_matrix(verification_url), qr_x, qr_y, QR_SIZE)
    left = MARGIN + 10
    page.text("No. Sertifikat / Certificate No.", left, MARGIN + 40, 10, GREY)
    page.text(certificate_number, left, MARGIN + 22, _fit_size(certificate_number, 13, qr_x - 20 - left), NAVY)
    # The URL is printed too, for whoever holds a paper copy and cannot scan.
    url_line = f"Verifikasi / Verify: {verification_url}"
    page.text(url_line, left, MARGIN + 6, _fit_size(url_line, 8, qr_x - 20 - left), GREY)


def _string_width(text: str, size: float) -> float:
    face = _font().face
    widths, default = face.charWidths, face.defaultWidth
    return sum(widths.get(ord(ch), default) for ch in text) * size / 1000


def _fit_size(text: str, max_size: float, width: float = TEXT_WIDTH) -> float:
    """The largest font size up to ``max_size`` at which ``text`` fits on one line of ``width``."""
    natural = _string_width(text, max_size)
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


# ----------------------------------------------------------------------------------------------
# PDF writing
#
# The page is written directly as PDF operators and objects. reportlab's canvas does the same
# through a generic object model, and per document it subsets the TrueType font and compresses the
# subset again: together that was two thirds of a certificate's time. Here the font goes in as
# subsets of at most 256 characters (simple TrueType fonts, as reportlab embeds them): subset 0
# holds printable ASCII at its own codes, the others the document's other characters in code
# point order. A subset is made and compressed once per process (``_embedded_subset``, cached by
# its characters): every certificate of an Indonesian upload uses the same ASCII subset, and
# names with the same accented letters share theirs.

_ASCII_SUBSET: Final = (0,) * 32 + tuple(range(32, 127))
_OTHER_SUBSET_SIZE: Final = 255            # code 0 of every subset stays .notdef
_SUBSET_CACHE_SIZE: Final = 256            # ~20-40 KiB each
_LITERAL_ESCAPES: Final = str.maketrans({"\\": "\\\\", "(": "\\(", ")": "\\)"})


@dataclass(frozen=True)
class _EmbeddedSubset:
    """One font subset's PDF parts; object numbers are filled in per document."""

    base_font: str            # "ABCDEF+DejaVuSans"
    last_char: int            # codes are 0..last_char
    widths: str               # "[600 600 ...]"
    descriptor: str           # the FontDescriptor dictionary up to its /FontFile2 reference
    font_file: bytes          # the subset TrueType font, compressed
    font_file_length: int     # its uncompressed length (/Length1)
    to_unicode: bytes         # the ToUnicode CMap, compressed


@functools.lru_cache(maxsize=_SUBSET_CACHE_SIZE)
def _embedded_subset(codes: tuple[int, ...]) -> _EmbeddedSubset:
    face = _font().face
    with _font_lock:   # makeSubset reads the shared font file object
        font_file = face.makeSubset(list(codes))
    # A subset tag is six capital letters; derived from the characters, so output is deterministic.
    tag_number = zlib.crc32(repr(codes).encode())
    tag = ""
    for _ in range(6):
        tag_number, letter = divmod(tag_number, 26)
        tag += chr(65 + letter)
    base_font = f"{tag}+{face.name.decode('latin-1')}"
    widths = " ".join(_number(face.getCharWidth(code)) for code in codes)
    flags = (face.flags & ~FF_NONSYMBOLIC) | FF_SYMBOLIC
    bbox = " ".join(_number(value) for value in face.bbox)
    descriptor = (f"<< /Type /FontDescriptor /FontName /{base_font} /Flags {flags} /FontBBox [{bbox}] "
                  f"/ItalicAngle {_number(face.italicAngle)} /Ascent {_number(face.ascent)} "
                  f"/Descent {_number(face.descent)} /CapHeight {_number(face.capHeight)} "
                  f"/StemV {_number(face.stemV)} /MissingWidth {_number(face.defaultWidth)}")
    return _EmbeddedSubset(base_font, len(codes) - 1, f"[{widths}]", descriptor, zlib.compress(font_file),
                           len(font_file), zlib.compress(makeToUnicodeCMap(base_font, list(codes)).encode("ascii")))


def _number(value: float) -> str:
    """A PDF number: at most three decimals, no trailing zeros."""
    if value == int(value):
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _color(color: Color) -> str:
    return f"{_number(color.red)} {_number(color.green)} {_number(color.blue)}"


class _TextObject(NamedTuple):
    state: str      # colours, line width, render mode, spacing, position
    text: str
    size: str


class _Page:
    """One page's content stream and the font subsets its text uses; ``pdf()`` writes the file."""

    def __init__(self) -> None:
        self._ops: list[str | _TextObject] = []
        self._others: set[str] = set()               # characters outside printable ASCII

    def rect(self, x: float, y: float, width: float, height: float, stroke: Color, line_width: float) -> None:
        self._ops.append(f"{_color(stroke)} RG {_number(line_width)} w {_number(x)} {_number(y)} "
                         f"{_number(width)} {_number(height)} re S")

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: Color, line_width: float) -> None:
        self._ops.append(f"{_color(stroke)} RG {_number(line_width)} w {_number(x1)} {_number(y1)} m "
                         f"{_number(x2)} {_number(y2)} l S")

    def centred(self, text: str, y: float, size: float, color: Color, *, bold: bool = False,
                char_space: float = 0) -> None:
        width = _string_width(text, size) + (len(text) - 1) * char_space
        self.text(text, PAGE_WIDTH / 2 - width / 2, y, size, color, bold=bold, char_space=char_space)

    def text(self, text: str, x: float, y: float, size: float, color: Color, *, bold: bool = False,
             char_space: float = 0) -> None:
        # Text state (Tc, Tr) outlives BT/ET: every text object sets both.
        if bold:
            # Text render mode 2 = fill, then stroke the outline: a bold look from the regular font.
            state = f"{_color(color)} rg {_color(color)} RG {_number(size * 0.035)} w BT 2 Tr"
        else:
            state = f"{_color(color)} rg BT 0 Tr"
        self._others.update(ch for ch in text if not " " <= ch <= "~")
        # Which subset each character is in is known once the whole page is drawn: see pdf().
        self._ops.append(_TextObject(f"{state} {_number(char_space)} Tc 1 0 0 1 {_number(x)} {_number(y)} Tm",
                                     text, _number(size)))

    def qr(self, matrix: list[list[bool]], x: float, y: float, size: float) -> None:
        """The QR code as one filled path of horizontal runs, in module units scaled to ``size``."""
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
        self._ops.append("\n".join(ops))

    def pdf(self, *, title: str, subject: str) -> bytes:
        others = sorted(self._others, key=ord)
        subsets = [_ASCII_SUBSET] + [
            (0, *map(ord, others[start:start + _OTHER_SUBSET_SIZE]))
            for start in range(0, len(others), _OTHER_SUBSET_SIZE)]
        # Non-ASCII character -> (subset, code)
        placed = {ch: (1 + index // _OTHER_SUBSET_SIZE, 1 + index % _OTHER_SUBSET_SIZE)
                  for index, ch in enumerate(others)}
        content = "\n".join(op if isinstance(op, str) else f"{op.state} {_show_text(op.text, op.size, placed)} ET"
                            for op in self._ops)
        content_stream = zlib.compress(content.encode("latin-1"))
        return _document(content_stream, [_embedded_subset(codes) for codes in subsets], title, subject)


def _show_text(text: str, size: str, placed: dict[str, tuple[int, int]]) -> str:
    """Tf and Tj operators for ``text``: one run per stretch of characters in the same subset."""
    parts: list[str] = []
    subset, run = -1, []
    for ch in text:
        where = placed.get(ch)
        ch_subset = where[0] if where else 0
        if ch_subset != subset and run:
            parts.append(_run(subset, size, run))
            run = []
        subset = ch_subset
        run.append(ch if where is None else chr(where[1]))
    if run:
        parts.append(_run(subset, size, run))
    return " ".join(parts)


def _run(subset: int, size: str, codes: list[str]) -> str:
    text = "".join(codes)
    if subset == 0:   # printable ASCII: a literal string, readable in the content stream
        return f"/F{subset} {size} Tf ({text.translate(_LITERAL_ESCAPES)}) Tj"
    return f"/F{subset} {size} Tf <{text.encode('latin-1').hex()}> Tj"


def _document(content: bytes, subsets: list[_EmbeddedSubset], title: str, subject: str) -> bytes:
    """The whole PDF file: catalog, page, content, info, and four objects per font subset."""
    fonts_start = 6
    font_refs = " ".join(f"/F{index} {fonts_start + 4 * index} 0 R" for index in range(len(subsets)))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_number(PAGE_WIDTH)} {_number(PAGE_HEIGHT)}] "
         f"/Resources << /Font << {font_refs} >> /ProcSet [/PDF /Text] >> /Contents 4 0 R >>").encode(),
        _stream(content, "/Filter /FlateDecode"),
        (f"<< /Title {_text_string(title)} /Subject {_text_string(subject)} "
         f"/Creator (certificate_dispatch) /Producer (certificate_pdf) >>").encode(),
    ]
    for index, subset in enumerate(subsets):
        number = fonts_start + 4 * index
        objects.append((f"<< /Type /Font /Subtype /TrueType /BaseFont /{subset.base_font} /FirstChar 0 "
                        f"/LastChar {subset.last_char} /Widths {subset.widths} "
                        f"/FontDescriptor {number + 1} 0 R /ToUnicode {number + 3} 0 R >>").encode())
        objects.append(f"{subset.descriptor} /FontFile2 {number + 2} 0 R >>".encode())
        objects.append(_stream(subset.font_file, f"/Filter /FlateDecode /Length1 {subset.font_file_length}"))
        objects.append(_stream(subset.to_unicode, "/Filter /FlateDecode"))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number
        out += body
        out += b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    # The file identifier is a digest of the content, so that the same certificate is the same file.
    identifier = hashlib.md5(out, usedforsecurity=False).hexdigest().encode()
    out += (b"trailer\n<< /Size %d /Root 1 0 R /Info 5 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objects) + 1, identifier, identifier, xref))
    return bytes(out)


def _stream(data: bytes, entries: str) -> bytes:
    return b"<< /Length %d %s >>\nstream\n%s\nendstream" % (len(data), entries.encode(), data)


def _text_string(text: str) -> str:
    """A PDF text string: literal when printable ASCII, else UTF-16BE with its byte-order mark."""
    if all(" " <= ch <= "~" for ch in text):
        return f"({text.translate(_LITERAL_ESCAPES)})"
    return f"<FEFF{text.encode('utf-16-be').hex().upper()}>"
