"""Unpacking downloaded wheels into the Windows interpreter's import directories.

Written by hand because no installer targets a *foreign* interpreter: pip and
distlib install for the running (Linux) Python, byte-compiling with it and writing
POSIX scripts. The Windows Python needs only the importable files and the
``.dist-info`` metadata (for entry points such as pytest plugins), which is what
a wheel's root and its ``.data/purelib|platlib`` directories contain.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path, PurePosixPath

LIB_SCHEMES = ("purelib", "platlib")


def _target_of(member: str) -> PurePosixPath | None:
    """Where a wheel member goes relative to site-packages, or None to skip it."""
    path = PurePosixPath(member)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"wheel member {member!r} escapes the installation directory")
    top = path.parts[0]
    if top.endswith(".data"):
        if len(path.parts) > 2 and path.parts[1] in LIB_SCHEMES:
            return PurePosixPath(*path.parts[2:])
        return None  # scripts, headers, data: nothing the test run imports
    return path


def unpack_wheel(wheel: Path, site_packages: Path) -> None:
    """Extract the importable content of ``wheel`` into ``site_packages``."""
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{wheel} is not a valid wheel (zip) file: {exc}") from exc
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            target = _target_of(info.filename)
            if target is None:
                continue
            dest = site_packages.joinpath(*target.parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, dest.open("wb") as out:
                shutil.copyfileobj(src, out)


def unpack_scripts(wheel: Path, scripts_dir: Path) -> list[Path]:
    """Copy the wheel's ``<name>.data/scripts/*`` (e.g. a Rust tool's ``.exe``) into
    ``scripts_dir``, where pip would put them on Windows."""
    written: list[Path] = []
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            parts = PurePosixPath(info.filename).parts
            if info.is_dir() or len(parts) != 3 or not parts[0].endswith(".data"):
                continue
            if parts[1] != "scripts" or parts[2] in ("", ".", ".."):
                continue
            dest = scripts_dir / parts[2]
            scripts_dir.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, dest.open("wb") as out:
                shutil.copyfileobj(src, out)
            written.append(dest)
    return written


def dist_info_dirs(wheel: Path) -> list[str]:
    """Names of the top-level ``*.dist-info`` directories inside ``wheel``."""
    with zipfile.ZipFile(wheel) as archive:
        tops = {PurePosixPath(name).parts[0] for name in archive.namelist()}
    return sorted(t for t in tops if t.endswith(".dist-info"))


def read_metadata(wheel: Path) -> str:
    """The ``METADATA`` text of ``wheel`` (for its Requires-Dist lines)."""
    infos = dist_info_dirs(wheel)
    if not infos:
        raise ValueError(f"{wheel} has no .dist-info directory")
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(f"{infos[0]}/METADATA").decode("utf-8", "replace")
