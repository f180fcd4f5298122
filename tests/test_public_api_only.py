"""hierlmm uses only the public API of its dependencies (no ``_private`` names).

A private name (one underscore, not a dunder) can change or vanish in any release of a
dependency, without notice. The scan reads every module of hierlmm with :mod:`ast` and
reports

- ``import pkg._x`` and ``from pkg._x import y`` (a private module anywhere in the path);
- ``from pkg import _x`` (a private name);
- ``pkg._x`` and ``getattr(pkg, "_x")`` where ``pkg`` is a name bound by importing a
  dependency (``import nutpie``, ``import numpy as np``, ``from pymc import math``).

hierlmm's own private modules (``hierlmm._pytensor_setup``) and relative imports are
allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hierlmm

PACKAGE = "hierlmm"
SOURCE = Path(hierlmm.__file__).parent


def is_private(name: str) -> bool:
    """``_x`` is private; ``__x__`` (dunders such as ``__version__``) is not."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_dependency(module: str | None, level: int) -> bool:
    return level == 0 and module is not None and module.split(".")[0] != PACKAGE


def _attribute_chain(node: ast.Attribute) -> tuple[str | None, list[str]]:
    """``a.b.c`` -> ``("a", ["b", "c"])``; the root is None unless the chain ends in a name."""
    attrs = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        attrs.append(current.attr)
        current = current.value
    root = current.id if isinstance(current, ast.Name) else None
    return root, attrs[::-1]


def _private_imports(tree: ast.Module) -> tuple[list[tuple[int, str]], set[str]]:
    """Private imports from dependencies, and the names that dependency imports bind."""
    found, bound = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_dependency(alias.name, 0):
                    if any(is_private(part) for part in alias.name.split(".")):
                        found.append((node.lineno, f"import {alias.name}"))
                    bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and _is_dependency(node.module, node.level):
            if any(is_private(part) for part in node.module.split(".")):
                found.append((node.lineno, f"from {node.module} import ..."))
            for alias in node.names:
                if is_private(alias.name):
                    found.append((node.lineno, f"from {node.module} import {alias.name}"))
                bound.add(alias.asname or alias.name)
    return found, bound


class _AttributeScanner(ast.NodeVisitor):
    """``dep._x`` and ``getattr(dep, "_x")`` where ``dep`` is bound by a dependency import."""

    def __init__(self, bound: set[str]) -> None:
        self.bound = bound
        self.found: list[tuple[int, str]] = []

    def visit_Attribute(self, node: ast.Attribute) -> None:
        root, attrs = _attribute_chain(node)
        if root in self.bound and any(is_private(a) for a in attrs):
            self.found.append((node.lineno, ".".join([root, *attrs])))
        else:  # a shorter chain inside a flagged one would report the same use twice
            self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func, args = node.func, node.args
        if (
            isinstance(func, ast.Name) and func.id == "getattr" and len(args) >= 2
            and isinstance(args[0], ast.Name) and args[0].id in self.bound
            and isinstance(args[1], ast.Constant) and isinstance(args[1].value, str)
            and is_private(args[1].value)
        ):
            self.found.append((node.lineno, f"getattr({args[0].id}, {args[1].value!r})"))
        self.generic_visit(node)


def private_uses(source: str) -> list[tuple[int, str]]:
    """Uses of a dependency's private names in ``source``, as ``(line, text)``, in order.

    A name imported anywhere in the module (at the top or inside a function) counts
    wherever it is used.
    """
    tree = ast.parse(source)
    found, bound = _private_imports(tree)
    scanner = _AttributeScanner(bound)
    scanner.visit(tree)
    return sorted(found + scanner.found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from nutpie.compile_pymc import _make_functions",
         ["from nutpie.compile_pymc import _make_functions"]),
        ("from nutpie._lib import thing", ["from nutpie._lib import ..."]),
        ("import pytensor._private.mod as m", ["import pytensor._private.mod"]),
        ("import nutpie\nnutpie._lib.PyModel", ["nutpie._lib.PyModel"]),
        ("import numpy as np\nx = np.random._generator", ["np.random._generator"]),
        ("from pymc import sampling\nsampling._helper()", ["sampling._helper"]),
        ("import nutpie\ndef f():\n    return getattr(nutpie, '_lib')",
         ["getattr(nutpie, '_lib')"]),
        ("def f():\n    import nutpie\n    return nutpie._lib", ["nutpie._lib"]),
    ],
)
def test_scanner_finds_private_uses(source: str, expected: list[str]) -> None:
    assert [text for _, text in private_uses(source)] == expected


@pytest.mark.parametrize(
    "source",
    [
        "from __future__ import annotations",
        "import numpy as np\nprint(np.__version__)",
        "from hierlmm._pytensor_setup import configure",
        "import hierlmm._pytensor_setup",
        "from . import _sibling\nfrom ._sibling import x",
        "import numpy as np\nself._cache = np.zeros(3)\nobj._private = 1",
        "def f(model):\n    return model._private",  # not a module imported from a dependency
    ],
)
def test_scanner_allows_public_and_internal_names(source: str) -> None:
    assert private_uses(source) == []


def test_hierlmm_uses_only_public_names_of_its_dependencies() -> None:
    found = [
        f"{path.relative_to(SOURCE.parent)}:{line}: {text}"
        for path in sorted(SOURCE.rglob("*.py"))
        for line, text in private_uses(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "private names of dependencies used:\n" + "\n".join(found)
