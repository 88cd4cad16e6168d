"""Every table is in the metadata Alembic sees (shore_gateway.schema imports every table module).

The table classes are found in the source (``class X(…, table=True)``), so a new table module
that :mod:`shore_gateway.schema` does not import fails here instead of silently dropping out of
the models-vs-migrations comparison.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from shore_gateway import schema

ROOT = Path(__file__).resolve().parents[2]


def _table_classes() -> dict[str, str]:
    """``__tablename__`` → defining module, for every ``table=True`` class in shore_gateway."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "shore_gateway").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            if not any(
                k.arg == "table" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in node.keywords
            ):
                continue
            for stmt in node.body:
                if (
                    isinstance(stmt, ast.AnnAssign)
                    and isinstance(stmt.target, ast.Name)
                    and stmt.target.id == "__tablename__"
                    and isinstance(stmt.value, ast.Constant)
                ):
                    found[str(stmt.value.value)] = module
    return found


def test_schema_imports_every_table_module() -> None:
    tables = _table_classes()
    assert len(tables) >= 25  # the source was really read
    assert {m.__name__ for m in schema.TABLE_MODULES} == set(tables.values())


def test_the_schema_module_alone_holds_every_table() -> None:
    # A fresh interpreter: nothing else imported first could have added the tables.
    code = "import json, shore_gateway.schema as s; print(json.dumps(sorted(s.metadata.tables)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == sorted(_table_classes())
