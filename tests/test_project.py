"""The project's own entry points stay true: the README's commands, nox sessions, CI."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from tests import sub

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


def noxfile_tuple(name: str) -> tuple[str, ...]:
    """A tuple assigned at the top of noxfile.py, evaluated without importing nox."""
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    (value,) = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == name for t in node.targets)
    ]
    found = eval(compile(ast.Expression(value), "noxfile.py", "eval"), {"__builtins__": {}})
    assert isinstance(found, tuple) and all(isinstance(item, str) for item in found), found
    return found


def test_every_module_the_wine_leg_leaves_out_exists() -> None:
    # A renamed or removed module would silently stop being left out (or mask a typo).
    names = noxfile_tuple("WINE_SAME_ON_EVERY_OS")
    assert names and all((ROOT / "tests" / name).is_file() for name in names), names


def test_every_test_the_wine_leg_deselects_exists() -> None:
    # pytest only warns about nothing; collecting the ids names any that no longer exist.
    nodes = noxfile_tuple("WINE_DESELECT")
    assert len(set(nodes)) == len(nodes), "a test deselected twice"
    done = sub.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", *nodes],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    collected = {line for line in done.stdout.splitlines() if "::" in line}
    assert collected == set(nodes), set(nodes) ^ collected
