"""Imports flow one way: ``proc`` (and the ``_platform`` and ``errors`` leaves under it)
import nothing of the package above them, so ``env``, ``crash``, ``locks`` and the plugin build on
one process layer and no import circle can form through it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import migration_harness

PACKAGE = Path(migration_harness.__file__).parent
#: Modules that import nothing of the package: any layer may use them.
LEAVES = ("migration_harness._platform", "migration_harness.errors")


def package_imports(path: Path) -> set[str]:
    """The ``migration_harness`` modules that ``path`` imports (at any depth in it)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "migration_harness":
                found.add(node.module)  # "migration_harness" itself for `from ... import env`
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "migration_harness")
    return found


@pytest.mark.parametrize("path", sorted((PACKAGE / "proc").glob("*.py")), ids=lambda p: p.name)
def test_proc_imports_only_itself_and_the_leaves(path: Path) -> None:
    outside = {
        name
        for name in package_imports(path)
        if name not in LEAVES and not name.startswith("migration_harness.proc")
    }
    assert not outside, f"{path.name} imports {sorted(outside)} from above the process layer"


@pytest.mark.parametrize("leaf", LEAVES)
def test_a_leaf_imports_nothing_of_the_package(leaf: str) -> None:
    assert package_imports(PACKAGE / (leaf.split(".")[1] + ".py")) == set()
