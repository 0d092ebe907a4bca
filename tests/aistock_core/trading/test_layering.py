"""`aistock_core.trading` sits below data and strategy: from the project it imports only codes and errors."""

from __future__ import annotations

import ast
from pathlib import Path

import aistock_core.trading as trading


def test_trading_imports_only_codes_and_errors_from_the_project():
    allowed = {"aistock_core.codes", "aistock_core.errors"}
    for path in Path(trading.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                if name.startswith("aistock_core") and not name.startswith("aistock_core.trading"):
                    assert name in allowed, f"{path.name} imports {name}"
