"""Product functions stay under 60 lines (issue 10): a longer one is split by concern.

Counted from the `def` line to the last line of the body, docstring and comments
included, for every function and method (nested ones too) in the product: infra/,
__main__.py, the Lambda code (functions/), the command line and local stack (imagepipe/)
and the policy pack (policy/).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
MAX_LINES: Final = 60


def product_files() -> list[Path]:
    folders = ("infra", "functions", "imagepipe", "policy")
    return [*(p for f in folders for p in sorted((ROOT / f).rglob("*.py"))), ROOT / "__main__.py"]


def long_functions(source: str, limit: int = MAX_LINES) -> list[tuple[str, int]]:
    """(name, lines) of every function in `source` longer than `limit` lines."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > limit:
                found.append((node.name, lines))
    return found


def test_the_measure_counts_nested_functions_and_methods() -> None:
    body = "\n".join(f"        x = {i}" for i in range(60))
    source = f"class C:\n    def method(self):\n{body}\n\ndef short():\n    pass\n"
    assert long_functions(source) == [("method", 61)]
    nested = "def outer():\n    def inner():\n" + body + "\n"
    assert {name for name, _ in long_functions(nested)} == {"outer", "inner"}


def test_no_product_function_is_longer_than_60_lines() -> None:
    files = product_files()
    assert ROOT / "infra" / "pipeline.py" in files
    assert ROOT / "imagepipe" / "executions.py" in files
    assert ROOT / "functions" / "imagefn" / "resize_handler.py" in files
    too_long = [
        f"{path.relative_to(ROOT)}: {name} has {lines} lines"
        for path in product_files()
        for name, lines in long_functions(path.read_text(encoding="utf-8"))
    ]
    assert too_long == [], "split by concern:\n" + "\n".join(too_long)
