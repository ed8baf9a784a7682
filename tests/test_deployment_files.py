"""What can be checked of the deployment files without a Docker engine: they parse, versions and
connection ids agree with the code and the configs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from include.branch_sync.config import load_config

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def _pinned(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M | re.I)
    assert match, f"{package} is not pinned in requirements.txt"
    return match.group(1)


def test_compose_parses_and_runs_the_airflow_components():
    services = _compose()["services"]
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker-1",
                 "airflow-worker-2", "airflow-db", "redis"):
        assert name in services, name


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
    for tool in ("pytest", "moto", "aiosmtpd", "responses", "selenium"):
        assert tool in dev and tool not in prod, tool
    # openpyxl writes the batch reports the console and the CLI export
    for needed in ("apache-airflow-providers-celery", "celery", "redis", "kombu", "psycopg", "mysqlclient", "openpyxl"):
        assert needed in prod, needed
    # apache-airflow-providers-celery 3.26.0 cannot start with celery 5.7 on Airflow 3.3.2
    assert prod["celery"].startswith("5.6."), prod["celery"]
    assert re.search(r"^celery\[redis\]==", (ROOT / "requirements.txt").read_text(), re.M)
    instructions = [ln for ln in (ROOT / "Dockerfile").read_text().splitlines() if not ln.startswith("#")]
    assert any("pip install" in ln and "requirements.txt" in ln for ln in instructions)
    assert not any("requirements-dev" in ln for ln in instructions)  # no test tooling in the image


# -- the compose deployment and the native Celery e2e test run the same settings --------------------------------
def _harness():
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "e2e"))
    import airflow_server

    return airflow_server


def _airflow_services() -> dict[str, dict]:
    return {name: svc for name, svc in _compose()["services"].items()
            if str(svc.get("image", "")).startswith("back-office-airflow")}


def _native_celery_env(tmp_path: Path) -> dict[str, str]:
    """The environment the e2e harness gives its Celery deployment's processes (built, not started)."""
    harness = _harness()
    server = harness.AirflowServer(executor="CeleryExecutor")
    server.home, server.port, server.base_url, server._pg_user = tmp_path, 8080, "http://127.0.0.1:8080", "postgres"
    return server._build_env()


def test_compose_runs_the_shared_celery_settings_on_every_airflow_service():
    harness = _harness()
    settings = harness.celery_settings()
    assert settings["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    services = _airflow_services()
    assert {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"} <= set(services)
    for name, svc in services.items():
        env_files = svc.get("env_file") or []
        env_files = [env_files] if isinstance(env_files, str) else env_files
        assert [ROOT / f for f in env_files] == [harness.CELERY_SETTINGS_FILE], name
        env = svc["environment"]
        assert not set(env) & set(settings), f"{name} overrides the shared settings: {set(env) & set(settings)}"
        missing = set(harness.CELERY_DEPLOYMENT_KEYS) - set(env)
        assert not missing, f"{name} lacks {missing}"
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql")
        assert "AIRFLOW_CONN_AIRFLOW_API" in env  # branch_sync's pool check reads the pools through it


def test_native_celery_harness_runs_what_compose_runs(tmp_path):
    harness = _harness()
    env = _native_celery_env(tmp_path)
    for key, value in harness.celery_settings().items():
        assert env[key] == harness.CELERY_TEST_OVERRIDES.get(key, value), key
    assert set(harness.CELERY_TEST_OVERRIDES) <= set(harness.celery_settings())  # overrides change, never add
    compose_env = _airflow_services()["airflow-scheduler"]["environment"]
    for key in harness.CELERY_DEPLOYMENT_KEYS:
        assert key in env, key
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert compose_env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + compose_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert "AIRFLOW_CONN_AIRFLOW_API" in env


def test_compose_has_two_celery_workers_and_creates_the_pools_and_tables_at_init():
    harness = _harness()
    services = _airflow_services()
    workers = {name: svc for name, svc in services.items() if str(svc.get("command", "")).startswith("celery worker")}
    replicas = sum(int((svc.get("deploy") or {}).get("replicas", 1)) for svc in workers.values())
    assert replicas >= 2, workers
    for svc in workers.values():
        assert svc["command"].split() == harness.CELERY_WORKER_COMMAND  # same queue as the native workers
    # the scheduler queues exactly what the workers can run: nothing waits in the broker, where a
    # task queued past task_queued_timeout would be revoked and in the end failed
    settings = harness.celery_settings()
    slots = replicas * int(settings["AIRFLOW__CELERY__WORKER_CONCURRENCY"])
    assert int(settings["AIRFLOW__CORE__PARALLELISM"]) == slots, (settings["AIRFLOW__CORE__PARALLELISM"], slots)
    assert int(settings["AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG"]) <= slots
    assert int(settings["AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT"]) > int(
        settings["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"])
    hostnames = [svc.get("hostname") for svc in workers.values()]
    assert len(set(hostnames)) == len(hostnames) and all(hostnames)
    # task logs: every worker and the api-server share one logs volume
    for name in (*workers, "airflow-apiserver"):
        assert any(str(v).endswith(":/opt/airflow/logs") for v in services[name]["volumes"]), name
    init = services["airflow-init"]["command"]
    assert "airflow db migrate" in init and "python -m include.cli pools --apply" in init
    assert init.index("airflow db migrate") < init.index("pools --apply")
    # the bundle's tables are migrated (central_db and app_db) before anything runs
    assert "python -m include.cli migrate" in init and "--dry-run" not in init
    assert init.index("airflow db migrate") < init.index("include.cli migrate")
    env = services["airflow-init"]["environment"]
    assert {"AIRFLOW_CONN_CENTRAL_DB", "AIRFLOW_CONN_APP_DB", "SYNC_CONFIG"} <= set(env)
    assert {"central", "app-db"} <= set(services["airflow-init"]["depends_on"])
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", *workers):
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully", name


def _compose_binary() -> list[str] | None:
    """Docker's compose plugin, else the standalone ``docker-compose`` (Debian's package, which
    ``scripts/setup.sh --dev`` installs); neither needs a Docker engine for ``config``."""
    import shutil
    import subprocess

    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def test_docker_compose_config_accepts_the_file(tmp_path):
    import subprocess

    import pytest

    compose = _compose_binary()
    if compose is None:
        pytest.skip("no docker compose binary on this machine")
    result = subprocess.run([*compose, "-f", str(ROOT / "docker-compose.yaml"), "config", "--quiet"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    # and it does refuse a broken file (the check can fail)
    broken = ROOT / f".compose-check-{tmp_path.name}.yaml"
    broken.write_text((ROOT / "docker-compose.yaml").read_text().replace(
        "condition: service_completed_successfully", "condition: when_it_feels_like_it"))
    try:
        refused = subprocess.run([*compose, "-f", str(broken), "config", "--quiet"], capture_output=True, text=True,
                                 cwd=ROOT)
    finally:
        broken.unlink()
    assert refused.returncode != 0 and "when_it_feels_like_it" in refused.stdout + refused.stderr
