"""Pages written as PDF directly: content streams, font subsets, the document (one page or many).

Speed matters (one certificate PDF per participant, 100,000-row uploads), so:

* pages are written as PDF operators and objects by this module (see below); reportlab
  supplies the TrueType parsing, the font subsetter and the ToUnicode map. reportlab's canvas
  subsetted and compressed the font again for every document and serialised through a generic
  object model: two thirds of a certificate's time (measured: 195 certificates/s with the
  canvas, against 265/s for a bare canvas with one line of text, on the same machine);
* only ONE font is embedded. A bold look (a certificate's title and name, a report's headers) is
  drawn with text render mode 2 (fill + stroke of the same regular glyphs) instead of a second,
  bold font file.

The font goes in as subsets of at most 256 characters (simple TrueType fonts, as reportlab
embeds them): subset 0 holds printable ASCII at its own codes, the others the document's other
characters in code point order, shared by all its pages. A subset is made and compressed once
per process (``_embedded_subset``, cached by its characters): every certificate of an Indonesian
upload uses the same ASCII subset, and names with the same accented letters share theirs.
Knows no job: the certificate layout and the batch reports (``report``) draw with it.
"""

from __future__ import annotations

import functools
import hashlib
import zlib
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Final, NamedTuple

from reportlab.lib.colors import Color
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfbase.ttfonts import FF_NONSYMBOLIC, FF_SYMBOLIC

from include.common.pdf.font import bundled_font, font_lock, string_width

PAGE_WIDTH, PAGE_HEIGHT = landscape(A4)   # the default page: A4 landscape

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


def _to_unicode_cmap(base_font: str, codes: tuple[int, ...]) -> str:
    """The ToUnicode CMap of a subset: code -> UTF-16BE of its character. reportlab's
    ``makeToUnicodeCMap`` writes the code point as four hex digits, which breaks every character
    beyond U+FFFF (an emoji drew but vanished from the text layer); a surrogate pair keeps it."""
    entries = [f"<{i:02X}> <{chr(code).encode('utf-16-be').hex().upper()}>" for i, code in enumerate(codes)]
    return "\n".join([
        "/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
        f"/CIDSystemInfo << /Registry ({base_font}) /Ordering ({base_font}) /Supplement 0 >> def",
        f"/CMapName /{base_font} def", "/CMapType 2 def",
        "1 begincodespacerange", f"<00> <{len(codes) - 1:02X}>", "endcodespacerange",
        f"{len(codes)} beginbfchar", *entries, "endbfchar",
        "endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"])


@functools.lru_cache(maxsize=_SUBSET_CACHE_SIZE)
def _embedded_subset(codes: tuple[int, ...]) -> _EmbeddedSubset:
    face = bundled_font().face
    with font_lock:   # makeSubset reads the shared font file object
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
                           len(font_file), zlib.compress(_to_unicode_cmap(base_font, codes).encode("ascii")))


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


class Page:
    """One page's content stream and the characters its text uses; ``pdf()`` writes it as a
    document of its own, :func:`document` writes several pages as one."""

    def __init__(self, width: float = PAGE_WIDTH, height: float = PAGE_HEIGHT) -> None:
        self.width, self.height = width, height
        self._ops: list[str | _TextObject] = []
        self._others: set[str] = set()               # characters outside printable ASCII

    def rect(self, x: float, y: float, width: float, height: float, stroke: Color | None, line_width: float = 0,
             fill: Color | None = None) -> None:
        """A rectangle, stroked, filled or both."""
        paint = {(True, False): "S", (False, True): "f", (True, True): "B"}[(stroke is not None, fill is not None)]
        colors = (f"{_color(stroke)} RG {_number(line_width)} w " if stroke is not None else "") + \
                 (f"{_color(fill)} rg " if fill is not None else "")
        self._ops.append(f"{colors}{_number(x)} {_number(y)} {_number(width)} {_number(height)} re {paint}")

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: Color, line_width: float) -> None:
        self._ops.append(f"{_color(stroke)} RG {_number(line_width)} w {_number(x1)} {_number(y1)} m "
                         f"{_number(x2)} {_number(y2)} l S")

    def centred(self, text: str, y: float, size: float, color: Color, *, bold: bool = False,
                char_space: float = 0) -> None:
        width = string_width(text, size) + (len(text) - 1) * char_space
        self.text(text, self.width / 2 - width / 2, y, size, color, bold=bold, char_space=char_space)

    def text(self, text: str, x: float, y: float, size: float, color: Color, *, bold: bool = False,
             char_space: float = 0) -> None:
        # Text state (Tc, Tr) outlives BT/ET: every text object sets both.
        if bold:
            # Text render mode 2 = fill, then stroke the outline: a bold look from the regular font.
            state = f"{_color(color)} rg {_color(color)} RG {_number(size * 0.035)} w BT 2 Tr"
        else:
            state = f"{_color(color)} rg BT 0 Tr"
        self._others.update(ch for ch in text if not " " <= ch <= "~")
        # Which subset each character is in is known once the whole document is drawn: see document().
        self._ops.append(_TextObject(f"{state} {_number(char_space)} Tc 1 0 0 1 {_number(x)} {_number(y)} Tm",
                                     text, _number(size)))

    def qr(self, matrix: list[list[bool]], x: float, y: float, size: float) -> None:
        """A QR code's modules as one filled path of horizontal runs, in module units scaled to ``size``."""
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

    def content(self, placed: dict[str, tuple[int, int]]) -> bytes:
        """The page's compressed content stream, its text in the document's subsets (``placed``)."""
        content = "\n".join(op if isinstance(op, str) else f"{op.state} {_show_text(op.text, op.size, placed)} ET"
                            for op in self._ops)
        return zlib.compress(content.encode("latin-1"))

    def pdf(self, *, title: str, subject: str, creator: str) -> bytes:
        return document([self], title=title, subject=subject, creator=creator)


def document(pages: Sequence[Page], *, title: str, subject: str, creator: str) -> bytes:
    """The pages as one PDF file, their text in font subsets the pages share."""
    if not pages:
        raise ValueError("a PDF document needs at least one page")
    others = sorted(set().union(*(page._others for page in pages)), key=ord)
    subsets = [_ASCII_SUBSET] + [
        (0, *map(ord, others[start:start + _OTHER_SUBSET_SIZE]))
        for start in range(0, len(others), _OTHER_SUBSET_SIZE)]
    # Non-ASCII character -> (subset, code)
    placed = {ch: (1 + index // _OTHER_SUBSET_SIZE, 1 + index % _OTHER_SUBSET_SIZE)
              for index, ch in enumerate(others)}
    return _document([(page.width, page.height, page.content(placed)) for page in pages],
                     [_embedded_subset(codes) for codes in subsets], title, subject, creator)


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


def _document(pages: list[tuple[float, float, bytes]], subsets: list[_EmbeddedSubset], title: str, subject: str,
              creator: str) -> bytes:
    """The whole PDF file: catalog, page tree, info, four objects per font subset, then a page
    object and its content per page."""
    fonts_start = 4
    pages_start = fonts_start + 4 * len(subsets)
    font_refs = " ".join(f"/F{index} {fonts_start + 4 * index} 0 R" for index in range(len(subsets)))
    kids = " ".join(f"{pages_start + 2 * index} 0 R" for index in range(len(pages)))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        (f"<< /Title {_text_string(title)} /Subject {_text_string(subject)} "
         f"/Creator {_text_string(creator)} /Producer (include.common.pdf) >>").encode(),
    ]
    for index, subset in enumerate(subsets):
        number = fonts_start + 4 * index
        objects.append((f"<< /Type /Font /Subtype /TrueType /BaseFont /{subset.base_font} /FirstChar 0 "
                        f"/LastChar {subset.last_char} /Widths {subset.widths} "
                        f"/FontDescriptor {number + 1} 0 R /ToUnicode {number + 3} 0 R >>").encode())
        objects.append(f"{subset.descriptor} /FontFile2 {number + 2} 0 R >>".encode())
        objects.append(_stream(subset.font_file, f"/Filter /FlateDecode /Length1 {subset.font_file_length}"))
        objects.append(_stream(subset.to_unicode, "/Filter /FlateDecode"))
    for index, (width, height, content) in enumerate(pages):
        objects.append((f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_number(width)} {_number(height)}] "
                        f"/Resources << /Font << {font_refs} >> /ProcSet [/PDF /Text] >> "
                        f"/Contents {pages_start + 2 * index + 1} 0 R >>").encode())
        objects.append(_stream(content, "/Filter /FlateDecode"))
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
    # The file identifier is a digest of the content, so that the same document is the same file.
    identifier = hashlib.md5(out, usedforsecurity=False).hexdigest().encode()
    out += (b"trailer\n<< /Size %d /Root 1 0 R /Info 3 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objects) + 1, identifier, identifier, xref))
    return bytes(out)


def _stream(data: bytes, entries: str) -> bytes:
    return b"<< /Length %d %s >>\nstream\n%s\nendstream" % (len(data), entries.encode(), data)


def _text_string(text: str) -> str:
    """A PDF text string: literal when printable ASCII, else UTF-16BE with its byte-order mark."""
    if all(" " <= ch <= "~" for ch in text):
        return f"({text.translate(_LITERAL_ESCAPES)})"
    return f"<FEFF{text.encode('utf-16-be').hex().upper()}>"
