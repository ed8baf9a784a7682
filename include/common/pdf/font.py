"""The PDF font: the bundled DejaVu Sans, and which characters it can print.

The bundled DejaVu Sans TTF is parsed and registered once per process (``bundled_font()``);
parsing it costs far more than a whole certificate. Its subsets are made and compressed once per
process and set of characters (``writer._embedded_subset``).

A character the font has no glyph for is printed blank (a PDF viewer shows the font's .notdef
glyph or nothing), so :func:`unsupported_characters` lets a caller check text first (the
certificate refuses such a name). Right-to-left text (Arabic, Hebrew) counts as unsupported as
well: DejaVu has those glyphs, but text is laid out left-to-right without shaping, which would
print the letters disconnected and in reverse order.
"""

from __future__ import annotations

import threading
import unicodedata
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT_FILE = FONT_DIR / "DejaVuSans.ttf"
# A name of our own, so a font another module registers as "DejaVuSans" can never replace ours.
FONT_NAME = "BackofficeDejaVuSans"

_BIDI_RTL = frozenset({"R", "AL"})

font_lock = threading.Lock()
_font_cache: dict[str, TTFont] = {}
_registrations = 0


def bundled_font() -> TTFont:
    """The registered font; parsed and registered on the first call in a process only."""
    global _registrations
    font = _font_cache.get(FONT_NAME)
    if font is not None:
        return font
    with font_lock:
        font = _font_cache.get(FONT_NAME)
        if font is None:
            font = TTFont(FONT_NAME, str(FONT_FILE))
            pdfmetrics.registerFont(font)
            _registrations += 1
            _font_cache[FONT_NAME] = font
    return font


def font_registration_count() -> int:
    """How many times this process registered the font (1 after any use)."""
    return _registrations


def unsupported_characters(text: str) -> list[str]:
    """The distinct characters of ``text`` (NFC-normalised) that the font cannot print correctly.

    That is characters without a glyph in the bundled font, and right-to-left characters, which
    would be printed in reverse order. The order is that of first appearance.
    """
    char_to_glyph = bundled_font().face.charToGlyph
    missing: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        if ch in missing:
            continue
        if ord(ch) not in char_to_glyph or unicodedata.bidirectional(ch) in _BIDI_RTL:
            missing.append(ch)
    return missing


def string_width(text: str, size: float) -> float:
    face = bundled_font().face
    widths, default = face.charWidths, face.defaultWidth
    return sum(widths.get(ord(ch), default) for ch in text) * size / 1000
