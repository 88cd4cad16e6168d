"""protocol/ is sans-IO: it imports nothing that does I/O, reads clocks or draws randomness."""

from __future__ import annotations

import ast
import pathlib

import protocol

BANNED_MODULES = {
    "asyncio",
    "socket",
    "serial",
    "sqlite3",
    "time",
    "random",
    "secrets",
    "os",
    "io.open",
    "logging",
    "threading",
    "subprocess",
    "selectors",
    "pathlib",
    "importlib",
    "urllib",
    "http",
    "datetime",
    "uuid",
    "sqlmodel",
    "sqlalchemy",
    "paho",
    "fastapi",
    "httpx",
}
BANNED_CALLS = {"open", "print", "input", "exec", "eval", "__import__"}
ROOT = pathlib.Path(protocol.__file__).parent


def _modules() -> list[pathlib.Path]:
    return sorted(ROOT.rglob("*.py"))


def offenders_in(source: str, name: str) -> list[str]:
    """Every banned import and call in one module's source, as ``name:line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for imported in names:
            if imported.split(".")[0] in BANNED_MODULES or imported in BANNED_MODULES:
                found.append(f"{name}:{node.lineno}: import {imported}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in BANNED_CALLS
        ):
            found.append(f"{name}:{node.lineno}: {node.func.id}()")
    return found


def test_protocol_imports_no_io() -> None:
    offenders = []
    for path in _modules():
        offenders += offenders_in(path.read_text(encoding="utf-8"), path.name)
    assert offenders == []


def test_the_check_catches_io() -> None:
    source = (
        "import socket\n"
        "from os.path import join\n"
        "import asyncio.streams\n"
        "import cbor2\n"
        "def f():\n"
        "    return open('x'), print(1)\n"
    )
    assert offenders_in(source, "m.py") == [
        "m.py:1: import socket",
        "m.py:2: import os.path",
        "m.py:3: import asyncio.streams",
        "m.py:6: open()",
        "m.py:6: print()",
    ]
    assert offenders_in("import cbor2\nfrom protocol import frame\n", "ok.py") == []
