"""include.certificates.spreadsheet.types: upload names, and cells made safe for output."""

from __future__ import annotations

import pytest

from include.certificates.spreadsheet import UploadError, check_upload_name, neutralize_cell


@pytest.mark.parametrize(("name", "message"), [
    ("../../etc/passwd.csv", "must not contain '..' (path traversal)"),
    ("uploads/..\\..\\secret.xlsx", "must not contain '..' (path traversal)"),
    ("/etc/peserta.csv", "must be a path relative to the upload folder"),
    ("C:\\data\\peserta.csv", "must be a path relative to the upload folder"),
    ("s3://bucket/peserta.csv", "must be a path relative to the upload folder"),
    ("peserta\x00.csv", "contains control characters"),
    ("peserta.exe", "unsupported file type ('.exe')"),
    ("", "upload name is empty"),
])
def test_upload_name_is_checked(name: str, message: str) -> None:
    with pytest.raises(UploadError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        check_upload_name(name)


def test_good_upload_names_are_normalised() -> None:
    assert check_upload_name("2025/08/./peserta.xlsx") == "2025/08/peserta.xlsx"
    assert check_upload_name("batch\\peserta.CSV") == "batch/peserta.CSV"


# ----------------------------------------------------------------------------------------------
# Output


@pytest.mark.parametrize(("value", "expected"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+62812", "'+62812"),
    ("-Ahmad", "'-Ahmad"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"),
    ("\rx", "'\rx"),
    ("\nx", "'\nx"),
    ("Budi", "Budi"),
    ("", ""),
])
def test_neutralize_cell_for_output(value: str, expected: str) -> None:
    assert neutralize_cell(value) == expected
