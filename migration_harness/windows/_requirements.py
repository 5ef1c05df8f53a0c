"""Which distributions the Windows interpreter needs, judged as Windows would.

pip's ``--platform win_amd64`` picks Windows wheels but still evaluates
environment markers for the machine it runs on: ``colorama; sys_platform ==
"win32"`` (a pytest dependency) would be left out on Linux. So markers are
evaluated here, with packaging, against a Windows environment; requirements are
passed to pip without their markers, and any Windows-only dependency of a
downloaded wheel is fetched in a further round.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from migration_harness.errors import MigrationHarnessError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


def windows_environment(python_version: str) -> dict[str, str]:
    """Marker variables of the embeddable CPython ``python_version`` on 64-bit Windows.

    Spelled out rather than taken from packaging's default_environment(): that calls
    platform.machine(), which on Python 3.13 for Windows queries WMI, and Wine does
    not implement the call (the process crashes).
    """
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python_version}.0",
        "os_name": "nt",
        "platform_machine": "AMD64",
        "platform_release": "10",
        "platform_system": "Windows",
        "platform_version": "10.0.19045",
        "python_full_version": f"{python_version}.0",
        "platform_python_implementation": "CPython",
        "python_version": python_version,
        "sys_platform": "win32",
    }


class RequirementsError(MigrationHarnessError, ValueError):
    """The project's dependency list cannot be read."""


def _project_table(pyproject: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RequirementsError(f"cannot read {pyproject}: {exc}") from exc
    project = data.get("project", {})
    return project if isinstance(project, dict) else {}


def project_name(pyproject: Path) -> str:
    """``[project].name``, or "" when the file declares none."""
    return str(_project_table(pyproject).get("name", ""))


def optional_dependencies(pyproject: Path) -> dict[str, list[str]]:
    """``[project.optional-dependencies]``: group name to requirement strings."""
    groups = _project_table(pyproject).get("optional-dependencies", {})
    return {str(k): [str(r) for r in v] for k, v in groups.items()}


def project_requirements(pyproject: Path, extras: Sequence[str]) -> list[str]:
    """``[project].dependencies`` plus the named optional-dependency groups."""
    found = [str(r) for r in _project_table(pyproject).get("dependencies", [])]
    optional = optional_dependencies(pyproject)
    for extra in extras:
        if extra not in optional:
            known = ", ".join(sorted(optional)) or "none"
            raise RequirementsError(
                f"{pyproject}: [project.optional-dependencies] has no group {extra!r} "
                f"(groups: {known})"
            )
        found.extend(optional[extra])
    return found


def _parse(text: str, origin: str) -> Requirement:
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        raise RequirementsError(f"{origin}: invalid requirement {text!r}: {exc}") from exc


def without_marker(req: Requirement) -> str:
    """``name[extras]specifier`` (or ``name @ url``) with the marker dropped."""
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    if req.url:
        return f"{req.name}{extras} @ {req.url}"
    return f"{req.name}{extras}{req.specifier}"


def applies(req: Requirement, env: dict[str, str], extras: Iterable[str] = ("",)) -> bool:
    """True when ``req``'s marker holds on Windows for any of the requested extras."""
    if req.marker is None:
        return True
    return any(req.marker.evaluate({**env, "extra": extra}) for extra in extras)


def for_windows(requirements: Iterable[str], python_version: str) -> list[str]:
    """The requirements that apply on Windows, markers removed, sorted and unique."""
    env = windows_environment(python_version)
    kept = {
        without_marker(req)
        for req in (_parse(text, "project dependencies") for text in requirements)
        if applies(req, env)
    }
    return sorted(kept)


def missing_windows_dependencies(
    metadata_by_name: dict[str, str], wanted: Iterable[str], python_version: str
) -> list[str]:
    """Requirements of the downloaded distributions that apply on Windows but are absent.

    ``metadata_by_name`` maps canonical names to METADATA text; ``wanted`` are the
    top-level requirement strings (their extras select extra-dependent lines).
    """
    env = windows_environment(python_version)
    extras_of: dict[str, set[str]] = {}
    for text in wanted:
        req = _parse(text, "requirement")
        extras_of.setdefault(canonicalize_name(req.name), {""}).update(req.extras)
    missing: set[str] = set()
    for name, metadata in metadata_by_name.items():
        message = HeaderParser().parsestr(metadata)
        for line in message.get_all("Requires-Dist") or []:
            req = _parse(line, f"METADATA of {name}")
            dep = canonicalize_name(req.name)
            if dep in metadata_by_name:
                continue
            if applies(req, env, extras_of.get(name, {""})):
                missing.add(without_marker(req))
    return sorted(missing)
