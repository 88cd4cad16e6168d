"""protocol/ is sans-IO: it imports nothing that does I/O, reads clocks or draws randomness."""

from __future__ import annotations

import ast
import pathlib

import protocol

BANNED_MODULES = {
    "asyncio", "socket", "serial", "sqlite3", "time", "random", "secrets", "os", "io.open",
    "logging", "threading", "subprocess", "selectors", "pathlib", "importlib", "urllib", "http",
    "datetime", "uuid", "sqlmodel", "sqlalchemy", "paho", "fastapi", "httpx",
}
BANNED_CALLS = {"open", "print", "input", "exec", "eval", "__import__"}
ROOT = pathlib.Path(protocol.__file__).parent


def _modules() -> list[pathlib.Path]:
    return sorted(ROOT.rglob("*.py"))


def test_protocol_imports_no_io() -> None:
    offenders = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in BANNED_MODULES or name in BANNED_MODULES:
                    offenders.append(f"{path.name}: import {name}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in BANNED_CALLS
            ):
                offenders.append(f"{path.name}:{node.lineno}: {node.func.id}()")
    assert offenders == []


def test_the_check_catches_io() -> None:
    tree = ast.parse("import socket\nopen('x')\n")
    kinds = {type(n).__name__ for n in ast.walk(tree)}
    assert {"Import", "Call"} <= kinds
