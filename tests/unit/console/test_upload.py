"""The console's certificate upload (include.console.upload): a bad file is refused with the
reason and its HTTP status before anything is stored (the upload base stays empty); a good one is
stored in a folder of its own under the upload base, where the DAG's ``file`` param resolves it,
and previewed. (Through a running Airflow and a browser: tests/e2e/test_console_e2e.py.)"""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path

import pytest

from include.certificates.uploads import resolve_upload
from include.console import upload
from include.console.params import BadRequest

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
GOOD = "No,Nama,Email\n1,Budi Santoso,budi@example.com\n2,,x@example.com\n3,Siti,siti@example.com\n"


@pytest.fixture
def base(tmp_path, monkeypatch) -> Path:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    monkeypatch.setenv("CERTIFICATE_UPLOAD_BASE", str(uploads))
    monkeypatch.delenv("CERTIFICATE_UPLOAD_MAX_BYTES", raising=False)
    return uploads


def files_under(base: Path) -> list[Path]:
    return [p for p in base.rglob("*") if p.is_file()]


def test_a_good_file_is_stored_in_its_own_folder_and_previewed(base):
    received = upload.receive(io.BytesIO(GOOD.encode()), "Daftar Hadir.csv", upload.limit(), NOW)
    (stored,) = files_under(base)
    assert stored.read_bytes() == GOOD.encode()
    assert received.upload.name == str(stored.relative_to(base))
    assert received.upload.name.startswith("console/20261120_093000_") and stored.name == "Daftar Hadir.csv"
    assert resolve_upload(received.upload.name).path == stored  # as the DAG's file param will find it
    assert (received.preview.participants, received.preview.failing_rows) == (2, 1)
    again = upload.receive(io.BytesIO(GOOD.encode()), "Daftar Hadir.csv", upload.limit(), NOW)
    assert again.upload.name != received.upload.name and len(files_under(base)) == 2  # never replaced


def test_a_workbook_named_csv_is_stored_by_what_it_is(base, tmp_path):
    from tests.unit.certificates.spreadsheet.sheets import write_xlsx

    data = write_xlsx(tmp_path / "x.xlsx", [["Nama"], ["Ana"]]).read_bytes()
    received = upload.receive(io.BytesIO(data), "peserta.csv", upload.limit(), NOW)
    assert received.upload.name.endswith("/peserta.xlsx") and received.preview.format == ".xlsx"


@pytest.mark.parametrize("name, data, status, reason", [
    ("../../etc/cron.d/x.csv", GOOD, 400, "the file name holds a path"),
    ("sub/peserta.csv", GOOD, 400, "the file name holds a path"),
    ("C:peserta.csv", GOOD, 400, "':' (a drive or a stream) is not allowed"),
    (".peserta.csv", GOOD, 400, "starts with '.'"),
    ("pes\x00erta.csv", GOOD, 400, "control characters"),
    ("", GOOD, 400, "the upload has no file name"),
    ("peserta.csv", "%PDF-1.7\n%\xe2\xe3 obj", 415, "this is a PDF document"),
    ("peserta.xlsx", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 415, "NUL bytes"),
    ("peserta.csv", "No,Email\n1,a@b.co\n", 422, "no header row with a name column"),
    ("peserta.csv", "Nama,Email\n,a@b.co\n", 422, "no usable rows"),
    ("peserta.csv", "", 415, "the file is empty"),
])
def test_bad_files_are_refused_with_the_reason_and_nothing_is_stored(base, name, data, status, reason):
    with pytest.raises(upload.Refused) as refused:
        upload.receive(io.BytesIO(data.encode("latin-1")), name, upload.limit(), NOW)
    assert refused.value.status == status and reason in str(refused.value), str(refused.value)
    assert files_under(base) == []


def test_the_size_limit_comes_from_the_config(base, monkeypatch):
    monkeypatch.setenv("CERTIFICATE_UPLOAD_MAX_BYTES", "40")
    assert upload.limit() == 40
    with pytest.raises(upload.Refused) as refused:
        upload.receive(io.BytesIO(GOOD.encode()), "peserta.csv", upload.limit(), NOW)
    assert refused.value.status == 413 and "is larger than the limit of 40 bytes" in str(refused.value)
    with pytest.raises(upload.Refused) as refused:  # the request itself, before its body is read
        upload.check_declared_size(str(40 + upload.FORM_OVERHEAD + 1), 40)
    assert refused.value.status == 413
    upload.check_declared_size(str(40 + upload.FORM_OVERHEAD), 40)
    with pytest.raises(upload.Refused, match="Content-Length"):
        upload.check_declared_size(None, 40)
    monkeypatch.setenv("CERTIFICATE_UPLOAD_MAX_BYTES", "lots")
    with pytest.raises(upload.Refused, match="CERTIFICATE_UPLOAD_MAX_BYTES='lots'"):
        upload.limit()
    assert files_under(base) == []


def test_the_event_fields_are_checked_as_the_dag_checks_its_params():
    start = upload.start_request({"event_name": "  Rapat   Kerja ", "event_date": "2026-11-20", "chunk_size": "25"})
    assert start.conf("console/x/p.csv") == {"data_source": "file", "file": "console/x/p.csv",
                                             "event_name": "Rapat Kerja", "event_date": "2026-11-20", "chunk_size": 25}
    assert upload.start_request({"event_name": "x", "event_date": "2026-11-20"}).chunk_size == 100
    for form, reason in (({"event_name": "", "event_date": "2026-11-20"}, "event name"),
                         ({"event_name": "x" * 201, "event_date": "2026-11-20"}, "event name"),
                         ({"event_name": "研讨会", "event_date": "2026-11-20"}, "font cannot print"),
                         ({"event_name": "x", "event_date": "20-11-2026"}, "event date"),
                         ({"event_name": "x", "event_date": "2026-02-30"}, "event date"),
                         ({"event_name": "x", "event_date": "2026-11-20", "chunk_size": "0"}, "participants per task"),
                         ({"event_name": "x", "event_date": "2026-11-20", "chunk_size": "9999"}, "participants per")):
        with pytest.raises(BadRequest, match=reason):
            upload.start_request(form)


def test_a_confirmation_names_a_stored_file_inside_the_upload_base(base):
    received = upload.receive(io.BytesIO(GOOD.encode()), "p.csv", upload.limit(), NOW)
    assert upload.stored_upload(received.upload.name).name == received.upload.name
    for bad in ("../outside.csv", "/etc/passwd", "console/none/there.csv", None):
        with pytest.raises(BadRequest, match="file"):
            upload.stored_upload(bad)


def test_the_form_and_the_preview_pages_escape_what_the_file_holds(base):
    from include.console import pages

    hostile = "<script>alert(1)</script>"
    received = upload.receive(io.BytesIO(f"Nama,{hostile}\n{hostile},x\n,y\n".encode()), "p.csv", 10**6, NOW)
    page = pages.cert_upload(10**6, {"event_name": hostile}, preview=received.preview, stored=received.upload.name,
                             start=upload.start_request({"event_name": hostile, "event_date": "2026-11-20"}))
    assert hostile not in page and page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4
    form = pages.cert_upload(10**6, {"event_name": hostile}, error=hostile)
    assert hostile not in form and 'value="&lt;script&gt;' in form
