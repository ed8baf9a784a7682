"""The import rules and the dialect rule of ``include/`` (see ``docs/architecture.md``), checked on
the source itself, so a change that breaks them fails here rather than in review.

* ``include.common`` imports no job; a job imports ``common`` and, for the health job only, the
  other jobs' tracking, repair and notice modules, for ``sync_verify`` the sync's config, reader,
  wire, prefetch, writers, engine, checkpoint and pools; ``cli`` and ``demo`` sit on top and nothing imports them.
* No dialect name is compared outside ``include/common/db/dialects/`` and the sync writers: callers
  ask the dialect object.
* A DAG file imports its job's ``spec`` (and ``callbacks``) at parse time, ``tasks`` only inside
  task bodies, and nothing else of ``include``.
* No module is over 400 lines unless its docstring says why it is kept whole.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from include.common.paths import REPO_ROOT

INCLUDE = REPO_ROOT / "include"
JOBS = ("branch_sync", "certificates", "health", "sync_verify")
TOP = ("cli", "demo", "console")
# What the health job may read of the other jobs: their tracking, repair and stuck-report modules.
HEALTH_MAY_READ = ("include.branch_sync.tracking", "include.branch_sync.reconcile", "include.branch_sync.config",
                   "include.branch_sync.stuck",
                   "include.certificates.batches", "include.branch_sync.notify", "include.certificates.notify",
                   "include.sync_verify.notify")
# What the verification job reuses of the sync: it reads and writes exactly as a sync does.
VERIFY_MAY_READ = ("include.branch_sync.config", "include.branch_sync.columns", "include.branch_sync.reader",
                   "include.branch_sync.wire", "include.branch_sync.prefetch",
                   "include.branch_sync.writers", "include.branch_sync.engine", "include.branch_sync.checkpoint",
                   "include.branch_sync.pools", "include.branch_sync.units", "include.branch_sync.spec")
DIALECT_HOMES = (INCLUDE / "common" / "db" / "dialects", INCLUDE / "branch_sync" / "writers")
MAX_LINES = 400

_NAMES = r"(?:postgresql|postgres|mysql|mariadb|sqlite)"
DIALECT_COMPARISONS = [
    re.compile(rf"(?:==|!=)\s*[\"']{_NAMES}[\"']"),
    re.compile(rf"[\"']{_NAMES}[\"']\s*(?:==|!=)"),
    re.compile(rf"\bin\s*[\(\[{{]\s*[\"']{_NAMES}[\"']"),
    re.compile(r"\bdialect(?:\.name)?\s*(?:==|!=|\bin\b)"),
    re.compile(r"isinstance\([^)]*\b(?:Postgres|MySql|Sqlite)(?:Writer|Dialect)\b"),
]


def modules(root: Path = INCLUDE) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, *, top_level_only: bool = False) -> list[str]:
    """Modules imported by the source (``from a.b import c`` gives ``a.b.c``: the name may be a
    module or an attribute, and either way it lives under ``a.b``)."""
    tree = ast.parse(source)
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: list[str] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def import_violations(name: str, source: str) -> list[str]:
    """The imports of module ``name`` that break the layering rules."""
    own = name.split(".")[1] if name.count(".") >= 1 else ""
    bad = []
    for target in imports_of(source):
        if not target.startswith("include.") or target.count(".") < 1:
            continue
        package = target.split(".")[1]
        if package in ("common", own):
            continue
        if own == "common":
            bad.append(target)
        elif own in JOBS and package in TOP:
            bad.append(target)
        elif own in JOBS and package in JOBS:
            if not ((own == "health" and target.startswith(HEALTH_MAY_READ))
                    or (own == "sync_verify" and target.startswith(VERIFY_MAY_READ))):
                bad.append(target)
    return bad


def dialect_comparisons(source: str) -> list[str]:
    return [line.strip() for line in source.splitlines() if any(p.search(line) for p in DIALECT_COMPARISONS)]


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(INCLUDE)))
def test_imports_follow_the_layers(path):
    assert import_violations(module_name(path), path.read_text()) == []


@pytest.mark.parametrize("path", [p for p in modules() if not any(h in p.parents for h in DIALECT_HOMES)],
                         ids=lambda p: str(p.relative_to(INCLUDE)))
def test_no_dialect_name_is_compared_outside_the_dialects(path):
    assert dialect_comparisons(path.read_text()) == []


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(INCLUDE)))
def test_modules_stay_small_or_say_why(path):
    source = path.read_text()
    if len(source.splitlines()) > MAX_LINES:
        assert "Kept whole:" in (ast.get_docstring(ast.parse(source)) or ""), \
            f"{path} has {len(source.splitlines())} lines and no 'Kept whole:' reason in its docstring"


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "dags").glob("*.py")), ids=lambda p: p.name)
def test_dag_files_import_spec_at_parse_time_and_tasks_inside_tasks(path):
    source = path.read_text()
    top = [m for m in imports_of(source, top_level_only=True) if m.startswith("include.")]
    assert top, f"{path.name} imports nothing of include"
    for target in top:
        assert re.match(r"include\.\w+\.(spec|callbacks)(\.|$)", target), f"{path.name} imports {target} at parse time"
    for target in imports_of(source):
        if target.startswith("include.") and target not in top:
            assert re.match(r"include\.\w+\.tasks(\.|$)", target), f"{path.name} imports {target} in a task"


# -- the checks themselves can fail ----------------------------------------------------------------
def test_the_import_check_catches_a_kernel_that_knows_a_job():
    assert import_violations("include.common.schema", "from include.branch_sync import tracking\n") == [
        "include.branch_sync.tracking"]
    assert import_violations("include.certificates.batches", "import include.health.tasks\n") == [
        "include.health.tasks"]
    assert import_violations("include.branch_sync.tasks", "from include.cli import main\n") == ["include.cli.main"]
    assert import_violations("include.health.tasks", "from include.certificates import generate\n") == [
        "include.certificates.generate"]
    # what the rules allow
    assert import_violations("include.health.tasks", "from include.certificates import batches\n") == []
    assert import_violations("include.cli.progress", "from include.branch_sync import reconcile\n") == []
    assert import_violations("include.sync_verify.engine", "from include.branch_sync.writers import writer_for\n") == []
    assert import_violations("include.sync_verify.engine", "from include.branch_sync import tracking\n") == [
        "include.branch_sync.tracking"]
    assert import_violations("include.branch_sync.engine", "from include.sync_verify import diff\n") == [
        "include.sync_verify.diff"]


def test_the_dialect_check_catches_a_comparison():
    for line in ('if db.dialect == "mysql":', 'x = "TRUE" if dialect.name != "postgresql" else "1"',
                 'if name in ("sqlite", "mysql"):', 'isinstance(writer, PostgresWriter)', 'if "mariadb" == kind:'):
        assert dialect_comparisons(line) == [line], line
    assert dialect_comparisons('WRITERS = {"postgresql": PostgresWriter}') == []
