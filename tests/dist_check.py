"""What the built distributions must hold, checked by tests/test_dist.py and by the release
workflow before anything is published.

    python tests/dist_check.py DIST_DIR [--tag vX.Y.Z]

lists the wheel's files, then prints every problem and exits 1 if there is any: a file
of the package missing from the wheel, anything else in it (tests, bench, dev-only
modules), a runtime file or the license missing from either dist, and, with ``--tag``,
a tag that is not the built version or a version without its CHANGELOG heading.
"""

from __future__ import annotations

import argparse
import re
import sys
import tarfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "migration_harness"

# Runtime files that are not Python modules: named so an empty or wrong package
# listing cannot pass the comparison by accident.
RUNTIME_FILES = (
    "migration_harness/__init__.py",
    "migration_harness/py.typed",
    "migration_harness/reference/migration-harness.toml",
    "migration_harness/scaffold/migration-harness.toml.tmpl",
    "migration_harness/scaffold/migrations.yml.tmpl",
    "migration_harness/scaffold/noxfile_migrations.py.tmpl",
)
# Source files of the repository that never ship in the wheel.
DEV_ONLY = re.compile(r"^(tests|bench|fixtures|docs|\.github)/|^(noxfile\.py|tox\.ini)$")
LICENSE = "LICENSE"


def package_files(root: Path = ROOT) -> list[str]:
    """Every file of the package in the source tree, as the wheel should list it."""
    base = root / PACKAGE
    return sorted(
        p.relative_to(root).as_posix()
        for p in base.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in {".pyc", ".pyo"}
    )


def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return sorted(archive.namelist())


def sdist_names(sdist: Path) -> list[str]:
    with tarfile.open(sdist) as archive:
        # Drop the leading `<name>-<version>/`.
        return sorted(m.name.split("/", 1)[1] for m in archive.getmembers() if "/" in m.name)


def wheel_problems(names: Iterable[str], expected: Iterable[str]) -> list[str]:
    names = list(names)
    package = {n for n in names if n.startswith(f"{PACKAGE}/")}
    problems = [f"wheel lacks {f}" for f in sorted(set(expected) - package)]
    problems += [f"wheel lacks runtime file {f}" for f in RUNTIME_FILES if f not in package]
    for name in names:
        if DEV_ONLY.search(name) or "__pycache__" in name or name.endswith(".pyc"):
            problems.append(f"wheel ships a dev-only file: {name}")
        elif name not in package and not re.match(r"^[^/]+\.dist-info/", name):
            problems.append(f"wheel ships a file outside {PACKAGE}/: {name}")
    if not any(re.match(rf"^[^/]+\.dist-info/licenses/{LICENSE}$", n) for n in names):
        problems.append(f"wheel lacks the license text ({LICENSE} in .dist-info/licenses/)")
    return problems


def sdist_problems(names: Iterable[str]) -> list[str]:
    names = set(names)
    need = [LICENSE, "pyproject.toml", "README.md", "CHANGELOG.md", *RUNTIME_FILES]
    return [f"sdist lacks {f}" for f in need if f not in names]


def built_version(wheel: Path) -> str:
    # The wheel's name is `<dist>-<version>-<tags>.whl` (the binary distribution format).
    return wheel.name.split("-")[1]


def tag_problems(tag: str, version: str, changelog: str) -> list[str]:
    problems = []
    if tag != f"v{version}":
        problems.append(f"tag {tag!r} does not match the built version {version!r}")
    if not re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.M):
        problems.append(
            f"CHANGELOG.md has no heading '## [{version}] - YYYY-MM-DD': move the "
            "Unreleased entries under it before tagging"
        )
    return problems


def check(dist: Path, tag: str | None, root: Path = ROOT) -> list[str]:
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        return [f"{dist} must hold one wheel and one sdist, found {wheels + sdists}"]
    names = wheel_names(wheels[0])
    print(f"{wheels[0].name}:")
    print("\n".join(f"  {n}" for n in names))
    problems = wheel_problems(names, package_files(root))
    problems += sdist_problems(sdist_names(sdists[0]))
    if tag is not None:
        changelog = (root / "CHANGELOG.md").read_text(encoding="utf-8")
        problems += tag_problems(tag, built_version(wheels[0]), changelog)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", type=Path, help="directory holding the sdist and the wheel")
    parser.add_argument("--tag", help="the release tag, vX.Y.Z")
    args = parser.parse_args(argv)
    problems = check(args.dist, args.tag)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
