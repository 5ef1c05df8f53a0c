"""The distributions as published: built from this tree with ``python -m build`` (no build
isolation, so no download), then checked with the same code the release workflow runs."""

from __future__ import annotations

import os
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from migration_harness import __version__
from migration_harness.windows import running_under_wine
from tests import sub
from tests.dist_check import (
    ROOT,
    RUNTIME_FILES,
    check,
    package_files,
    sdist_names,
    sdist_problems,
    tag_problems,
    wheel_names,
    wheel_problems,
)

BUILD_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("build", reason="the test extra provides build")
    pytest.importorskip("hatchling", reason="the test extra provides hatchling")
    if not (ROOT / "migration_harness").is_dir():
        pytest.skip("no source tree to build (the suite runs against an installed wheel)")
    out = tmp_path_factory.mktemp("dist")
    done = sub.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def the_wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("*.whl")
    return wheel


def the_sdist(dist: Path) -> Path:
    (sdist,) = dist.glob("*.tar.gz")
    return sdist


def test_built_dists_pass_the_release_check(dist: Path) -> None:
    assert check(dist, tag=None) == []


def test_license_text_is_in_both_dists(dist: Path) -> None:
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License") and "migration-harness developers" in license_text
    wheel = wheel_names(the_wheel(dist))
    assert f"migration_harness-{__version__}.dist-info/licenses/LICENSE" in wheel
    assert "LICENSE" in sdist_names(the_sdist(dist))


def test_the_sdist_holds_what_its_tests_import(dist: Path) -> None:
    names = sdist_names(the_sdist(dist))
    for needed in ("bench/common.py", "bench/stress.py", "tests/specfiles.py", "noxfile.py"):
        assert any(n.endswith("/" + needed) or n == needed for n in names), needed


def test_wheel_is_the_package_and_nothing_else(dist: Path) -> None:
    names = wheel_names(the_wheel(dist))
    shipped = sorted(n for n in names if n.startswith("migration_harness/"))
    assert shipped == package_files()
    assert set(RUNTIME_FILES) <= set(shipped)
    assert not [n for n in names if n.startswith(("tests/", "bench/", "fixtures/"))]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_only_command_installed_is_migration_harness(dist: Path) -> None:
    # The reference tool's external steps are made per case from its spec's
    # console_scripts, never put on a user's PATH by the install.
    with zipfile.ZipFile(the_wheel(dist)) as archive:
        points = archive.read(f"migration_harness-{__version__}.dist-info/entry_points.txt")
    section = points.decode().split("[console_scripts]")[1].split("[")[0]
    assert [line.split("=")[0].strip() for line in section.split("\n") if line.strip()] == [
        "migration-harness"
    ]


def test_metadata_declares_the_license_and_the_version(dist: Path) -> None:
    with zipfile.ZipFile(the_wheel(dist)) as archive:
        metadata = archive.read(f"migration_harness-{__version__}.dist-info/METADATA").decode()
    assert f"Version: {__version__}\n" in metadata
    assert "License-Expression: MIT\n" in metadata
    assert "License-File: LICENSE\n" in metadata


def test_tag_check_needs_the_built_version_and_a_changelog_heading(dist: Path) -> None:
    version = the_wheel(dist).name.split("-")[1]
    released = f"# Changelog\n\n## [Unreleased]\n\n## [{version}] - 2026-01-31\n\n- x\n"
    assert tag_problems(f"v{version}", version, released) == []
    problems = tag_problems("v9.9.9", version, "# Changelog\n\n## [Unreleased]\n")
    assert len(problems) == 2
    assert "does not match the built version" in problems[0]
    assert f"## [{version}]" in problems[1]


# The checks themselves catch what they are for, on listings that break each rule.
GOOD_WHEEL = [
    *RUNTIME_FILES,
    "migration_harness-1.0.dist-info/METADATA",
    "migration_harness-1.0.dist-info/licenses/LICENSE",
]


def test_wheel_check_accepts_a_good_listing() -> None:
    assert wheel_problems(GOOD_WHEEL, RUNTIME_FILES) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda names: [*names, "tests/test_x.py"], "dev-only file: tests/test_x.py"),
        (lambda names: [*names, "bench/run.py"], "dev-only file: bench/run.py"),
        (lambda names: [*names, "noxfile.py"], "dev-only file: noxfile.py"),
        (lambda names: [*names, "toplevel.py"], "outside migration_harness/: toplevel.py"),
        (
            lambda names: [*names, "migration_harness/__pycache__/x.cpython-312.pyc"],
            "dev-only file",
        ),
        (
            lambda names: [n for n in names if not n.endswith("py.typed")],
            "lacks runtime file migration_harness/py.typed",
        ),
        (lambda names: [n for n in names if "licenses" not in n], "lacks the license text"),
    ],
)
def test_wheel_check_catches(change: Callable[[list[str]], list[str]], expected: str) -> None:
    problems = wheel_problems(change(GOOD_WHEEL), [])
    assert any(expected in p for p in problems), problems


def test_wheel_check_catches_a_package_file_left_out() -> None:
    expected = [*RUNTIME_FILES, "migration_harness/extra.py"]
    assert wheel_problems(GOOD_WHEEL, expected) == ["wheel lacks migration_harness/extra.py"]


def test_sdist_check_catches_a_missing_license() -> None:
    names = ["pyproject.toml", "README.md", "CHANGELOG.md", *RUNTIME_FILES]
    assert sdist_problems(names) == ["sdist lacks LICENSE"]


@pytest.mark.skipif(
    running_under_wine(), reason="the embeddable Windows CPython under Wine has no venv"
)
def test_installed_wheel_reports_the_plain_version(dist: Path, tmp_path: Path) -> None:
    """A wheel knows no commit: --version says the release alone (no git is run)."""
    venv = tmp_path / "venv"
    sub.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)],
        check=True,
        timeout=BUILD_TIMEOUT_S,
    )
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    # This interpreter's pip installs into the new venv; the origin module needs no deps.
    installed = sub.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            str(the_wheel(dist)),
        ],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    described = sub.run(
        [
            str(python),
            "-c",
            "from migration_harness.origin import find_origin as f; print(f().describe())",
        ],
        cwd=tmp_path,
        # The wheel's copy, not a checkout an inherited PYTHONPATH points at.
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert described.returncode == 0, described.stderr
    assert described.stdout.strip() == __version__
