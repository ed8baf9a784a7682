"""``certificate_dispatch`` with the upload base and the output base on S3 object storage
(``s3://<conn_id>@bucket/prefix`` through the Amazon provider), against a real S3-compatible HTTP
server (moto's, in its own process on 127.0.0.1) and MariaDB as ``app_db``."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import time

import pytest
from pypdf import PdfReader

from include.certificates import batches as cert
from include.common.db import Database
from tests.e2e.airflow_server import find_free_port
from tests.integration.sync_helpers import fetch
from tests.integration.certificates.test_certificate_dispatch_dag import SEED_CSV, load_dag

BUCKET = "branch-certificates"
SECRET_KEY = "s3cret-Key-Never-Logged"


@pytest.fixture
def s3(monkeypatch, airflow_db, mariadb_database, connections, tmp_path):
    import boto3
    from airflow.sdk.io import store

    # Airflow keeps one object store per connection id for the process; each test has its own S3
    # server (another port), so a store attached by an earlier test in this process must not be reused.
    monkeypatch.setattr(store, "_STORE_CACHE", {})
    port = find_free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the S3 server did not start"
                time.sleep(0.2)
        endpoint = f"http://127.0.0.1:{port}"
        connections({"app_db": mariadb_database("app_s3"),
                     "branch_s3": json.dumps({"conn_type": "aws", "login": "AKIDBRANCH", "password": SECRET_KEY,
                                              "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}})})
        monkeypatch.setenv("CERTIFICATE_UPLOAD_BASE", f"s3://branch_s3@{BUCKET}/uploads")
        monkeypatch.setenv("CERTIFICATE_OUTPUT_BASE", f"s3://branch_s3@{BUCKET}/output")
        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="AKIDBRANCH",
                              aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key="uploads/2026/peserta.csv", Body=SEED_CSV.encode("utf-8-sig"))
        client.put_object(Bucket=BUCKET, Key="private/gaji.csv", Body=b"name\nDirektur\n")
        yield client
    finally:
        server.terminate()
        server.wait(10)


def test_upload_read_from_and_certificates_written_to_object_storage(s3, capfd):
    dag_run = load_dag().test(run_conf={"file": "2026/peserta.csv", "event_name": "Pelatihan K3",
                                        "event_date": "2026-11-20", "chunk_size": 4})
    assert dag_run.state == "success"
    (batch,) = fetch("app_db", "SELECT * FROM certificate_batches")
    assert (batch["status"], batch["success_count"], batch["source_file"]) == ("completed", 6, "2026/peserta.csv")
    rows = fetch("app_db", "SELECT participant_name, certificate_number, file_path FROM certificates")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"output/{batch['batch_id']}/")["Contents"]}
    assert keys == {f"output/{batch['batch_id']}/{r['certificate_number']}.pdf" for r in rows}
    for row in rows:
        assert row["file_path"].startswith("s3://") and row["file_path"].endswith(f"{row['certificate_number']}.pdf")
        body = s3.get_object(Bucket=BUCKET, Key=f"output/{batch['batch_id']}/{row['certificate_number']}.pdf")["Body"]
        text = PdfReader(io.BytesIO(body.read())).pages[0].extract_text()
        assert row["participant_name"] in text and row["certificate_number"] in text
    out, err = capfd.readouterr()
    assert SECRET_KEY not in out + err


@pytest.mark.parametrize("name, message", [
    ("../private/gaji.csv", "outside the upload base"),
    ("s3://branch-certificates/private/gaji.csv", "outside the upload base"),
    ("2026/missing.csv", "does not exist"),
    ("2026/peserta.txt", "not a .csv or .xlsx"),
])
def test_object_storage_uploads_are_confined_to_the_upload_base(s3, name, message, capfd):
    dag_run = load_dag().test(run_conf={"file": name, "event_name": "E", "event_date": "2026-01-01"})
    assert dag_run.state == "failed"
    out, err = capfd.readouterr()
    assert message in out + err
    with Database("app_db") as db:
        cert.ensure_schema(db)
    assert not fetch("app_db", "SELECT 1 AS x FROM certificate_batches")
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="output/")


def test_a_console_upload_is_stored_on_object_storage_and_becomes_a_batch(s3):
    """The console's upload path with the upload base on S3: refused files leave no object; a good
    one is written under uploads/console/<when>_<random>/ and the DAG run reading it completes."""
    from datetime import datetime, timezone

    from include.console import upload

    now = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
    before = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    for name, data in (("../gaji.csv", SEED_CSV.encode()), ("scan.csv", b"%PDF-1.7\n%\xe2\xe3"),
                       ("x.csv", b"No,Email\n1,a@b.co\n")):
        with pytest.raises(upload.Refused):
            upload.receive(io.BytesIO(data), name, upload.limit(), now)
    assert {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]} == before
    received = upload.receive(io.BytesIO(SEED_CSV.encode("utf-8-sig")), "peserta.csv", upload.limit(), now)
    assert received.upload.name.startswith("console/20261120_093000_") and received.preview.participants == 6
    body = s3.get_object(Bucket=BUCKET, Key=f"uploads/{received.upload.name}")["Body"].read()
    assert body == SEED_CSV.encode("utf-8-sig")
    start = upload.start_request({"event_name": "Pelatihan K3", "event_date": "2026-11-20", "chunk_size": "4"})
    dag_run = load_dag().test(run_conf=start.conf(received.upload.name))
    assert dag_run.state == "success"
    (batch,) = fetch("app_db", "SELECT * FROM certificate_batches")
    assert (batch["status"], batch["success_count"], batch["source_file"]) == ("completed", 6, received.upload.name)
