"""What the certificate refuses to print: a field holding characters the bundled font
(``include.common.pdf.font``) cannot render would be printed blank or backwards, so the row is
reported instead (``UnrenderableName`` for the participant's name)."""

from __future__ import annotations

from include.common.pdf.font import FONT_FILE, unsupported_characters

__all__ = ["UnrenderableName", "UnrenderableText", "unsupported_characters"]


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
