"""The form rows travel in from a branch to the central database, chosen per pair by the target's
writer (:meth:`Writer.wire`), and the little parsing a chunk of them needs (a COPY text field, a
binary COPY row's fields, the CSV records).

* ``binary``: PostgreSQL to PostgreSQL where every column's type is the same on both sides (or cast
  to ``text`` at the source): ``COPY ... (FORMAT binary)`` bytes forwarded as they arrive, each
  chunk framed with its own header and trailer. Only the last row's key is decoded.
* ``csv``: PostgreSQL to a ``LOAD DATA`` target (MySQL/MariaDB): the source's *load text*
  (:meth:`Dialect.load_text_select`) as CSV: every value quoted, NULL the bare word, no escapes.
* ``text``: PostgreSQL COPY text, when a column's types differ (the target parses the text).
* ``rows``: Python tuples from a server-side cursor, for every other pair.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

FORMS = ("binary", "csv", "text", "rows")
COPY_FORMS = ("binary", "csv", "text")


@dataclass(frozen=True)
class Wire:
    form: str
    selects: tuple[str, ...] = ()  # the source's expression for each column (empty: the dialect's default)
    type_oids: tuple[int, ...] = ()  # binary: each selected column's type (to decode a chunk's last key)
    note: str = ""  # why this pair travels in a slower form than its dialects allow (logged)

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise ValueError(f"unknown wire form {self.form!r}")


def binary_fields(row: bytes | memoryview, indexes: Sequence[int]) -> list[bytes | None]:
    """The raw fields ``indexes`` of one binary COPY row (int16 field count, then per field an
    int32 length, -1 for NULL, and the bytes)."""
    wanted = set(indexes)
    found: dict[int, bytes | None] = {}
    offset = 2
    for i in range(struct.unpack_from(">h", row, 0)[0]):
        length = struct.unpack_from(">i", row, offset)[0]
        offset += 4
        if i in wanted:
            found[i] = None if length < 0 else bytes(row[offset:offset + length])
        offset += max(length, 0)
    return [found[i] for i in indexes]


def csv_records(text: str) -> Iterator[list[str | None]]:
    """Records of the CSV a ``csv`` read streams: fields split by commas, records by newlines,
    each value quoted with quotes doubled (newlines inside quotes belong to the value), NULL the
    bare word. Used for a chunk's last key and to name the value a load refused."""
    i, n = 0, len(text)
    record: list[str | None] = []
    while i < n:
        if text[i] == '"':
            parts, j = [], i + 1
            while True:
                k = text.index('"', j)
                if text.startswith('""', k):
                    parts.append(text[j:k + 1])
                    j = k + 2
                    continue
                parts.append(text[j:k])
                i = k + 1
                break
            record.append("".join(parts))
        else:
            k = i
            while k < n and text[k] not in ",\n":
                k += 1
            bare = text[i:k]
            record.append(None if bare == "NULL" else bare)
            i = k
        if i < n and text[i] == ",":
            i += 1
            continue
        yield record
        record = []
        i += 1  # the newline
    if record:
        yield record


_COPY_ESCAPES = {ord("b"): b"\b", ord("f"): b"\f", ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t",
                 ord("v"): b"\v", ord("\\"): b"\\"}


def copy_field(raw: bytes) -> str | None:
    r"""One field of a COPY text row, unescaped (``\N`` is NULL)."""
    if raw == b"\\N":
        return None
    if b"\\" not in raw:
        return raw.decode()
    out = bytearray()
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == 0x5C and i + 1 < len(raw):
            nxt = raw[i + 1]
            if nxt in _COPY_ESCAPES:
                out += _COPY_ESCAPES[nxt]
                i += 2
                continue
            if 0x30 <= nxt <= 0x37:
                j = i + 1
                while j < len(raw) and j < i + 4 and 0x30 <= raw[j] <= 0x37:
                    j += 1
                out.append(int(raw[i + 1:j], 8) & 0xFF)
                i = j
                continue
            if nxt == ord("x"):
                j = i + 2
                while j < len(raw) and j < i + 4 and chr(raw[j]) in "0123456789abcdefABCDEF":
                    j += 1
                out.append(int(raw[i + 2:j], 16))
                i = j
                continue
            out.append(nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return out.decode()
