"""The library does not print: it warns (``warnings``) or logs (``logging``).

Only the command line (``hierlmm/cli.py``) writes to stdout or stderr. The scan reads
every other module with :mod:`ast` for calls of ``print`` and for ``sys.stdout`` /
``sys.stderr``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import hierlmm

SOURCE = Path(hierlmm.__file__).parent
ALLOWED = {SOURCE / "cli.py"}


def console_writes(source: str) -> list[tuple[int, str]]:
    """``(line, text)`` of each ``print(...)`` call and ``sys.stdout``/``sys.stderr`` use."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "print":
            found.append((node.lineno, "print(...)"))
        elif isinstance(node, ast.Attribute) and node.attr in ("stdout", "stderr") \
                and isinstance(node.value, ast.Name) and node.value.id == "sys":
            found.append((node.lineno, f"sys.{node.attr}"))
    return sorted(found)


def test_scanner_finds_prints_and_stream_writes() -> None:
    source = "import sys\nprint('x')\nsys.stdout.write('y')\nlog = print\nsys.stderr"
    assert console_writes(source) == [(2, "print(...)"), (3, "sys.stdout"), (5, "sys.stderr")]
    assert console_writes("import warnings\nwarnings.warn('x')\nfit.sys.stdout") == []


def test_library_modules_do_not_print() -> None:
    found = [
        f"{path.relative_to(SOURCE.parent)}:{line}: {text}"
        for path in sorted(SOURCE.rglob("*.py")) if path not in ALLOWED
        for line, text in console_writes(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "use warnings.warn or logging instead of:\n" + "\n".join(found)
