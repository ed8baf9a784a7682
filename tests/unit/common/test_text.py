"""Text from stored data cannot drive the terminal: control characters are dropped."""

from include.common.text import display_width, truncate


def test_truncate_drops_control_characters():
    assert truncate("Budi\x1b[2J\x1b]0;owned\x07 Santoso", 0) == "Budi[2J]0;owned Santoso"
    assert truncate("a\tb\r\nc", 0) == "a b c"
    cut = truncate("\x1b[31m" + "x" * 50, 10)
    assert "\x1b" not in cut and display_width(cut) == 10
