"""What can be checked of the deployment files without a Docker engine: they parse, versions and
connection ids agree with the code and the configs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from include.config import load_config

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def _pinned(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M | re.I)
    assert match, f"{package} is not pinned in requirements.txt"
    return match.group(1)


def test_compose_parses_and_runs_the_airflow_components():
    services = _compose()["services"]
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker", "airflow-db",
                 "redis"):
        assert name in services, name
    assert services["airflow-worker"]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_image_versions_match_requirements():
    airflow = _pinned("apache-airflow")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"apache/airflow:{airflow}-python3.11" in dockerfile
    assert _compose()["services"]["airflow-scheduler"]["image"].endswith(f":{airflow}")


def test_compose_connections_cover_the_sync_config():
    env = _compose()["services"]["airflow-scheduler"]["environment"]
    config = load_config(ROOT / env["SYNC_CONFIG"].replace("/opt/airflow/bundle/", ""))
    defined = {k.removeprefix("AIRFLOW_CONN_").lower() for k in env if k.startswith("AIRFLOW_CONN_")}
    assert {config.target, *config.connections} <= defined
    assert "app_db" in defined
    for path in ("AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__PLUGINS_FOLDER"):
        assert (ROOT / env[path].replace("/opt/airflow/bundle/", "")).is_dir()


def _requirement_names(path: Path) -> dict[str, str]:
    names = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line!r} is not pinned"
            names[re.sub(r"\[.*\]", "", name).lower().replace("_", "-")] = version
    return names


def test_requirements_split_deployment_from_test_tools():
    prod = _requirement_names(ROOT / "requirements.txt")
    dev_text = (ROOT / "requirements-dev.txt").read_text()
    dev = _requirement_names(ROOT / "requirements-dev.txt")
    assert "-r requirements.txt" in dev_text.splitlines()
    assert not set(prod) & set(dev), "a package pinned in both files"
    for tool in ("pytest", "moto", "aiosmtpd", "responses", "openpyxl"):
        assert tool in dev and tool not in prod, tool
    for needed in ("apache-airflow-providers-celery", "celery", "redis", "kombu", "psycopg", "mysqlclient"):
        assert needed in prod, needed
    # apache-airflow-providers-celery 3.26.0 cannot start with celery 5.7 on Airflow 3.3.2
    assert prod["celery"].startswith("5.6."), prod["celery"]
    assert re.search(r"^celery\[redis\]==", (ROOT / "requirements.txt").read_text(), re.M)
    instructions = [ln for ln in (ROOT / "Dockerfile").read_text().splitlines() if not ln.startswith("#")]
    assert any("pip install" in ln and "requirements.txt" in ln for ln in instructions)
    assert not any("requirements-dev" in ln for ln in instructions)  # no test tooling in the image
