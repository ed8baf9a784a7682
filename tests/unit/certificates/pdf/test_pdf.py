"""include.certificates.pdf: one certificate PDF per participant, readable and verifiable."""

from __future__ import annotations

import io
import re
import unicodedata
from datetime import date

import pypdf
import pytest
import qrcode
from qrcode.constants import ERROR_CORRECT_M
from qrcode.util import MODE_8BIT_BYTE, QRData

from include.certificates.pdf import layout, qr
from include.certificates.pdf.font import UnrenderableName, UnrenderableText, unsupported_characters
from include.common.pdf import font, writer
from include.common.pdf.font import font_registration_count
from include.certificates.pdf.layout import render_certificate
from include.certificates.pdf.qr import qr_matrix

URL = "https://sertifikat.example.id/verify/5b2f0c1e9a7d4e3f8c6b1a0d2e4f6a8b"
_QR_BLOCK = re.compile(rb"q 0 0 0 rg ([\d.]+) 0 0 ([\d.]+) ([\d.]+) ([\d.]+) cm\n(.*?)\nf Q", re.DOTALL)


def render(name: str = "Budi Santoso", **overrides: object) -> bytes:
    arguments: dict[str, object] = dict(
        name=name, event_name="Seminar Nasional Keamanan Data 2025", event_date=date(2025, 8, 5),
        certificate_number="CERT-2025-000123", verification_url=URL, organization="Universitas Indonesia")
    arguments.update(overrides)
    out = io.BytesIO()
    render_certificate(out, **arguments)  # type: ignore[arg-type]
    return out.getvalue()


def page_of(pdf: bytes) -> pypdf.PageObject:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    return reader.pages[0]


def page_text(pdf: bytes) -> str:
    return page_of(pdf).extract_text()


def drawn_qr(pdf: bytes) -> list[list[bool]]:
    """The QR modules as drawn: the run-length rectangles of the QR block, back to a matrix."""
    content = page_of(pdf).get_contents().get_data()   # type: ignore[union-attr]
    block = _QR_BLOCK.search(content)
    assert block is not None, "no QR code in the page content"
    runs = [tuple(int(value) for value in line.split()[:4]) for line in block.group(5).split(b"\n")]
    assert all(line.endswith(b" re") for line in block.group(5).split(b"\n"))
    size = max(y for _, y, _, _ in runs) + 1
    matrix = [[False] * size for _ in range(size)]
    for x, y, width, _height in runs:
        for column in range(x, x + width):
            matrix[size - 1 - y][column] = True
    return matrix


@pytest.mark.parametrize("name", [
    "Budi Santoso", "Nguyễn Văn An", "Łukasz Żółć", "Ёлка Иванова", "Ώριμος Παπαδόπουλος",
    "José Ramírez-Núñez", "Søren Ærø", "Đặng Thị Hồng Nhung",
])
def test_certificate_text_contains_name_event_date_and_number(name: str) -> None:
    text = page_text(render(name))
    assert name in text
    assert "SERTIFIKAT" in text and "Certificate of Participation" in text
    assert "Seminar Nasional Keamanan Data 2025" in text
    assert "5 Agustus 2025" in text
    assert "CERT-2025-000123" in text
    assert "Universitas Indonesia" in text
    assert URL in text


def test_qr_code_encodes_the_verification_url() -> None:
    pdf = render()
    matrix = drawn_qr(pdf)
    assert matrix == qr_matrix(URL)
    assert len(matrix) >= 21 and len(matrix) % 4 == 1      # a QR version: 17 + 4 * version modules
    finder = [row[:7] for row in matrix[:7]]                # top-left finder pattern
    assert finder[0] == [True] * 7 and finder[1] == [True] + [False] * 5 + [True]


@pytest.mark.parametrize("data", [
    *[("https://sertifikat.example.id/verify/Zx9_k2LmQ8rT5vW1-" * 50)[:length]
      for length in (0, 1, 14, 15, 42, 43, 77, 106, 134, 213, 370, 600, 1000, 1500, 2331)],  # versions 1-40
    "https://sertifikat.example.id/verify?nama=Nguyễn Văn An&ref=Ёлка",   # UTF-8
])
def test_qr_matrix_is_module_for_module_what_qrcode_makes(data: str) -> None:
    reference = qrcode.QRCode(border=0, error_correction=ERROR_CORRECT_M, mask_pattern=qr.QR_MASK_PATTERN)
    reference.add_data(QRData(data.encode(), mode=MODE_8BIT_BYTE))
    reference.make(fit=True)
    assert qr_matrix(data) == [[bool(module) for module in row] for row in reference.modules]


def test_qr_refuses_data_beyond_version_40() -> None:
    with pytest.raises(ValueError, match="verification URL too long for a QR code"):
        qr_matrix("x" * 2332)


def test_other_url_gives_other_qr() -> None:
    assert drawn_qr(render(verification_url=URL + "0")) != drawn_qr(render())


@pytest.mark.parametrize(("name", "missing"), [
    ("张伟", ["张", "伟"]),
    ("สมชาย ใจดี", ["ส", "ม", "ช", "า", "ย", "ใ", "จ", "ด", "ี"]),
    ("Budi 田中", ["田", "中"]),
    ("محمد", ["م", "ح", "د"]),                 # glyphs exist, but reportlab would print it backwards
])
def test_unrenderable_name_is_refused_and_nothing_written(name: str, missing: list[str]) -> None:
    assert unsupported_characters(name) == missing
    out = io.BytesIO()
    with pytest.raises(UnrenderableName) as caught:
        render_certificate(out, name=name, event_name="Seminar", event_date="5 Agustus 2025",
                           certificate_number="C-1", verification_url=URL)
    assert caught.value.field == "name"
    assert caught.value.characters == missing
    assert f"'{missing[0]}' (U+{ord(missing[0]):04X})" in str(caught.value)
    assert str(caught.value).startswith(f"name {name!r} cannot be printed on the certificate")
    assert out.getvalue() == b""


def test_unrenderable_event_name_is_its_own_error() -> None:
    with pytest.raises(UnrenderableText) as caught:
        render(event_name="研讨会 2025")
    assert not isinstance(caught.value, UnrenderableName)
    assert caught.value.field == "event_name"
    assert caught.value.characters == ["研", "讨", "会"]


def test_scripts_the_font_covers_are_supported() -> None:
    for text in ("Nguyễn Văn An", "Łukasz Żółć", "Ёлка", "Ώ", "Ğüşöçİ", "Ærø", "'-Ahmad+62"):
        assert unsupported_characters(text) == [], text


def test_decomposed_name_is_printed_composed() -> None:
    decomposed = unicodedata.normalize("NFD", "Nguyễn Văn An")
    assert decomposed != "Nguyễn Văn An"
    assert "Nguyễn Văn An" in page_text(render(decomposed))


def test_long_name_wraps_onto_two_lines_and_stays_on_the_page() -> None:
    name = "Prof. Dr. Ir. Muhammad Abdurrahman Wahid Kusumanegara Hadiningrat, S.T., M.Sc., Ph.D."
    text = page_text(render(name))
    assert "Muhammad Abdurrahman" in text and "Ph.D." in text
    for line in layout._fit_lines(name, max_size=36, min_single_line_size=22)[0]:
        assert line in text


def test_plain_string_date_is_printed_as_given() -> None:
    assert "Sabtu, 9 Agustus 2025" in page_text(render(event_date="Sabtu, 9 Agustus 2025"))


def test_empty_name_is_refused() -> None:
    with pytest.raises(ValueError, match="name is empty"):
        render("   ")


def test_output_is_deterministic() -> None:
    assert render("Nguyễn Văn An") == render("Nguyễn Văn An")


def test_font_is_registered_once_for_many_certificates(monkeypatch: pytest.MonkeyPatch) -> None:
    render()   # whatever ran before, the font is registered now
    assert font_registration_count() == 1

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the font must not be parsed or registered again")

    monkeypatch.setattr(font.pdfmetrics, "registerFont", fail)
    monkeypatch.setattr(font, "TTFont", fail)
    for number in range(50):
        render(f"Peserta {number}", certificate_number=f"CERT-{number:06d}")
    assert font_registration_count() == 1


def test_document_metadata_names_the_participant() -> None:
    metadata = pypdf.PdfReader(io.BytesIO(render("Nguyễn Văn An"))).metadata
    assert metadata is not None
    assert metadata.title == "Sertifikat - Nguyễn Văn An"
    assert metadata.subject == "Seminar Nasional Keamanan Data 2025"


def test_pdf_delimiters_in_text_are_printed_as_given() -> None:
    text = page_text(render("Budi (Ucok) Santoso", organization=r"PT Maju\Jaya (Persero)"))
    assert "Budi (Ucok) Santoso" in text
    assert r"PT Maju\Jaya (Persero)" in text


def test_more_than_255_other_characters_are_split_over_several_font_subsets() -> None:
    covered = [chr(code) for code in [*range(0x100, 0x17F), *range(0x391, 0x3CA), *range(0x410, 0x450), *range(0x1E00, 0x1F00)]
               if not unsupported_characters(chr(code))]
    assert len(covered) > 2 * 255 - 40      # enough for three subsets with the name's letters
    words = ["".join(covered[start:start + 12]) for start in range(0, len(covered), 12)]
    event = " ".join(words)
    pdf = render("Nguyễn Văn An", event_name=event)
    fonts = page_of(pdf)["/Resources"]["/Font"]      # type: ignore[index]
    assert len(fonts) == 1 + -(-len(set(event + "Nguyễn Văn An") - set(map(chr, range(32, 127)))) // 255)
    assert len(fonts) >= 3
    text = page_text(pdf)
    assert "Nguyễn Văn An" in text
    for word in words:
        assert word in text


def test_font_subsets_are_made_once_per_set_of_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    face = font.bundled_font().face
    calls: list[int] = []
    original = face.makeSubset

    def counting(subset: list[int]) -> bytes:
        calls.append(len(subset))
        return original(subset)

    monkeypatch.setattr(face, "makeSubset", counting)
    writer._embedded_subset.cache_clear()
    for number in range(20):
        render(f"Peserta {number}", certificate_number=f"CERT-{number:06d}")
    assert len(calls) == 1                      # printable ASCII, for all twenty
    render("Nguyễn Văn An")
    render("Nguyễn Văn An", certificate_number="CERT-2")
    assert len(calls) == 2                      # and one subset for these accented letters
    render("Łukasz Żółć")
    assert len(calls) == 3


def test_characters_beyond_the_basic_plane_stay_in_the_text_layer():
    # DejaVu draws U+1F600; its ToUnicode entry must be a surrogate pair, or the text layer loses it
    assert unsupported_characters("Budi 😀 Santoso") == []
    assert "Budi 😀 Santoso" in page_of(render("Budi 😀 Santoso")).extract_text()
