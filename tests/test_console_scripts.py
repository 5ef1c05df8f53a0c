"""``console_scripts``: Python entry points the harness makes into commands for each case,
inside the case's scratch directory and first on the tool's PATH, never installed."""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

import pytest

from migration_harness.contract._tool import CONSOLE_SCRIPTS_DIR, Tool
from migration_harness.launchers import console_script_source
from migration_harness.proc import run
from migration_harness.reference import SPEC_PATH
from migration_harness.spec import load_reference_target
from tests.specfiles import GOOD, check, write

STEP = "migration_harness.reference.external:step_1_to_2"


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('{ "a/b" = "x:y" }', "target.console_scripts.a/b: expected a command name such as"),
        ('{ "step" = "no-colon" }', 'expected an entry point "package.module:function"'),
        ('{ "step" = "pkg.mod:1st" }', 'expected an entry point "package.module:function"'),
        ('{ "step" = 1 }', "target.console_scripts.step: expected a string, got 1"),
        ('{ "step" = "no_such_pkg_mh.mod:main" }', "package 'no_such_pkg_mh' of"),
    ],
    ids=["name-with-slash", "no-colon", "bad-attribute", "not-a-string", "not-importable"],
)
def test_a_bad_console_script_is_refused_in_one_line(tmp_path: Path, table: str, says: str) -> None:
    spec = write(tmp_path, GOOD + f"console_scripts = {table}\n")
    result = check("--config", str(spec), cwd=tmp_path)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"migration-harness: {spec}: ") or f"{spec}: " in line, line
    assert says in line, line


def test_each_case_gets_the_scripts_in_its_own_scratch_directory(tmp_path: Path) -> None:
    target = load_reference_target()
    assert set(target.console_scripts) == {"refrepo-1-to-2", "refrepo-2-to-3"}
    tool = Tool(target, tmp_path)
    made = tmp_path / CONSOLE_SCRIPTS_DIR
    assert tool.env.vars["PATH"].startswith(str(made))
    # The step runs from there: without -path it refuses, in its own words.
    result = run(["refrepo-1-to-2"], env=tool.env.vars, cwd=tmp_path)
    assert result.returncode == 2, result.describe()
    assert "-path" in result.stderr, result.describe()


def test_nothing_is_installed_where_pip_puts_scripts() -> None:
    scripts = Path(sysconfig.get_path("scripts"))
    assert not list(scripts.glob("refrepo-*")), f"refrepo steps installed in {scripts}"


def test_a_script_imports_the_code_this_process_runs() -> None:
    source = console_script_source(STEP)
    package_root = str(Path(SPEC_PATH).resolve().parents[2])
    assert f"sys.path.insert(0, {package_root!r})" in source
    assert "import migration_harness.reference.external as _m" in source
    assert source.endswith("sys.exit(_m.step_1_to_2())\n")


def test_the_scripts_command_makes_them_for_a_run_by_hand(tmp_path: Path) -> None:
    made = run([sys.executable, "-m", "migration_harness", "scripts", str(tmp_path / "bin")])
    made.assert_ok()
    assert "put " in made.stdout and "first on PATH" in made.stdout
    env = {**os.environ, "PATH": os.pathsep.join([str(tmp_path / "bin"), os.environ["PATH"]])}
    repo = tmp_path / "repo"
    tool = [sys.executable, "-m", "migration_harness.reference"]
    run([*tool, "init", str(repo), "--version", "1"], env=env).assert_ok()
    run([*tool, "migrate", str(repo), "--to", "4"], env=env).assert_ok()  # steps 1-2, 2-3


def test_the_scripts_command_says_when_there_are_none(tmp_path: Path) -> None:
    spec = write(tmp_path, GOOD)
    result = run(
        [sys.executable, "-m", "migration_harness", "scripts", "bin", "--config", str(spec)],
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.describe()
    assert result.stderr.strip() == (
        f"migration-harness: error: {spec}: the spec declares no console_scripts"
    )
