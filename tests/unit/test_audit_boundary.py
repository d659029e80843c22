"""Only the reporting service reads auditor data and writes audit entries: a module that
did either itself could read without the hour contract or leave a read unrecorded."""

import ast
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The definition, and its one caller.
ALLOWED = {"fleet/reporting/audit.py", "fleet/reporting/service.py"}


def _names(tree: ast.AST) -> set[str]:
    found = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    found |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found |= {alias.name for alias in node.names}
    return found


def test_only_the_reporting_service_records_pulls() -> None:
    writers = sorted(
        str(path.relative_to(PROJECT_ROOT))
        for folder in ("app", "fleet", "telemetry")
        for path in (PROJECT_ROOT / folder).rglob("*.py")
        if "record_pull" in _names(ast.parse(path.read_text()))
    )
    assert set(writers) <= ALLOWED, f"record pulls through fleet.reporting.service: {writers}"
    assert "fleet/reporting/service.py" in writers


# What auditor reads are made of; `app` reaches them through fleet.reporting.service only.
READ_MODULES = {
    "fleet.reporting.provider_feeds",
    "fleet.reporting.provider_hours",
    "fleet.reporting.metrics_queries",
}
READ_FUNCTIONS = {"prepare_export", "export_pieces"}


def _reads(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported = {f"{node.module}.{alias.name}" for alias in node.names}
            found |= ({node.module} | imported) & READ_MODULES
            found |= {alias.name for alias in node.names} & READ_FUNCTIONS
    return found


def test_the_app_reads_auditor_data_through_the_reporting_service_only() -> None:
    bypasses = {
        str(path.relative_to(PROJECT_ROOT)): sorted(found)
        for path in (PROJECT_ROOT / "app").rglob("*.py")
        if (found := _reads(ast.parse(path.read_text())))
    }
    assert not bypasses, f"read through fleet.reporting.service: {bypasses}"
