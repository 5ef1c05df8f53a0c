"""The project's own entry points stay true: the README's commands, nox sessions, CI."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SESSIONS = {"tests", "check", "lint", "typecheck", "windows", "bench", "stress", "gallery"}


def nox_sessions() -> set[str]:
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(ast.unparse(d).startswith("nox.session") for d in node.decorator_list)
    }


def test_every_documented_session_exists() -> None:
    assert nox_sessions() == SESSIONS


def test_readme_quickstart_lines_name_real_sessions() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = re.findall(r"^python -m pip install nox && nox -s (\w+)$", readme, re.MULTILINE)
    assert quick == ["check", "tests"]
    assert set(re.findall(r"nox -s (\w+)", readme)) <= SESSIONS


def test_ci_script_runs_the_readme_test_command_and_the_main_job() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for session in ("tests", "check", "windows"):
        assert re.search(rf"^nox -s {session}\b", script, re.MULTILINE), session


def test_every_module_the_wine_leg_leaves_out_exists() -> None:
    # A renamed or removed module would silently stop being left out (or mask a typo).
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    (names,) = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", "") == "WINE_SAME_ON_EVERY_OS" for t in node.targets)
    ]
    assert names and all((ROOT / "tests" / name).is_file() for name in names), names
