"""What goes into the Windows Python: the installed migration-harness and the project
under test.

The harness is copied as it is installed here (from a wheel, an editable checkout or a
source tree alike), so the Windows leg needs no checkout of migration-harness and runs
the very version the user runs on Linux. It is pure Python: its package directory plus
its metadata (for the ``pytest11`` entry point) is all the Windows interpreter needs.

The project under test is the user's own directory: when it has a ``pyproject.toml``
its wheel is built and unpacked, and its dependencies (with the chosen extras) are
installed beside the harness's.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name

from migration_harness.windows import _stamp
from migration_harness.windows._requirements import (
    RequirementsError,
    optional_dependencies,
    project_name,
    project_requirements,
)

HARNESS_DIST = "migration-harness"
HARNESS_PACKAGE = "migration_harness"
# The metadata files the Windows interpreter reads: requirements and entry points.
METADATA_FILES = ("METADATA", "entry_points.txt")
DEFAULT_EXTRA = "test"


@dataclass(frozen=True)
class Sources:
    """The inputs of one Windows environment.

    ``project`` is the directory of the project under test (None: only the harness);
    ``extras`` its optional-dependency groups (None: ``test`` if it has one);
    ``requirements`` more requirement strings to install (``--with``).
    """

    project: Path | None = None
    extras: tuple[str, ...] | None = None
    requirements: tuple[str, ...] = ()

    def chosen_extras(self) -> tuple[str, ...]:
        if self.extras is not None:
            return self.extras
        pyproject = self.pyproject
        if pyproject is None:
            return ()
        return (DEFAULT_EXTRA,) if DEFAULT_EXTRA in optional_dependencies(pyproject) else ()

    @property
    def pyproject(self) -> Path | None:
        if self.project is None:
            return None
        candidate = self.project / "pyproject.toml"
        return candidate if candidate.is_file() else None

    def builds_project_wheel(self) -> bool:
        """A project other than migration-harness itself (that one is copied as installed)."""
        pyproject = self.pyproject
        if pyproject is None:
            return False
        return canonicalize_name(project_name(pyproject)) != canonicalize_name(HARNESS_DIST)

    def requirement_list(self) -> list[str]:
        """Every requirement: the harness's, the project's with its extras, ``--with``."""
        found = harness_requirements()
        pyproject = self.pyproject
        if pyproject is not None:
            found += project_requirements(pyproject, self.chosen_extras())
        elif self.extras:
            raise RequirementsError(
                f"--extras {','.join(self.extras)}: {self.project} has no pyproject.toml "
                "to read optional dependencies from"
            )
        return found + list(self.requirements)


def _harness_distribution() -> metadata.Distribution:
    try:
        return metadata.distribution(HARNESS_DIST)
    except metadata.PackageNotFoundError as exc:
        raise RequirementsError(
            f"{HARNESS_DIST} is importable from {harness_package_dir()} but not installed "
            "(no metadata found); install it with `python -m pip install -e .` or from a wheel"
        ) from exc


def harness_package_dir() -> Path:
    """The directory of the running ``migration_harness`` package."""
    return Path(sys.modules[HARNESS_PACKAGE].__file__ or "").resolve().parent


def harness_requirements() -> list[str]:
    """The harness's own runtime requirements (``Requires-Dist`` lines, markers kept)."""
    return list(_harness_distribution().requires or [])


def harness_fingerprint() -> str:
    package = harness_package_dir()
    files = _stamp.fingerprint_files(package.parent, [package.name])
    return f"{_harness_distribution().version}:{files}"


def install_harness(dest: Path) -> None:
    """Copy the running package and its metadata into ``dest`` (an import directory)."""
    package = harness_package_dir()
    dist = _harness_distribution()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
    shutil.copytree(package, dest / package.name, ignore=ignore)
    info = dest / f"{HARNESS_PACKAGE}-{dist.version}.dist-info"
    info.mkdir()
    for name in METADATA_FILES:
        text = dist.read_text(name)
        if text is not None:
            (info / name).write_text(text, encoding="utf-8")
