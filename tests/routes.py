"""The routes of the app's OpenAPI document, for the tests that must know every one."""

from fastapi import FastAPI


def documented_routes(app: FastAPI) -> list[str]:
    """`METHOD /path` of every operation in the app's OpenAPI document."""
    paths = app.openapi()["paths"]
    return [f"{method.upper()} {path}" for path, ops in paths.items() for method in ops]
