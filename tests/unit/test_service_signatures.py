"""DESIGN's service convention, checked over the source: after `session` (and the hot
state or Redis client, where one follows it) every argument is keyword-only, so that a
call cannot swap two arguments of the same type, such as a provider id and a device id."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("fleet", "telemetry", "geofencing")
INFRASTRUCTURE = {"session", "hot", "redis"}


def positional_after_session(source: str, name: str) -> list[str]:
    """`name:line function: arguments` of each function taking positional arguments
    after its session."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        names = [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
        if "session" not in names[:2]:
            continue
        rest = names[names.index("session") + 1 :]
        while rest and rest[0] in INFRASTRUCTURE:
            rest.pop(0)
        if rest:
            found.append(f"{name}:{node.lineno} {node.name}: {', '.join(rest)}")
    return found


def test_arguments_after_the_session_are_keyword_only() -> None:
    sources = [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    assert len(sources) > 50
    offenders = [
        found
        for path in sources
        for found in positional_after_session(
            path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))
        )
    ]
    assert offenders == []


def test_the_check_sees_positional_arguments_after_the_infrastructure() -> None:
    source = (
        "async def bad(session, hot, provider_id, *, limit): ...\n"
        "async def good(session, hot, *, provider_id): ...\n"
        "class Store:\n"
        "    def method(self, session, device_id): ...\n"
        "def unrelated(provider_id, session): ...\n"
    )
    assert positional_after_session(source, "m.py") == [
        "m.py:1 bad: provider_id",
        "m.py:4 method: device_id",
    ]
