"""Finding Wine and preparing the environment Windows programs run in under it."""

from __future__ import annotations

import io
import os
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from migration_harness.errors import MigrationHarnessError
from migration_harness.windows._pump import run_piped

WINE_ENV = "MIGRATION_HARNESS_WINE"
INSTALL_HINT = "sudo apt-get install wine wine64 (Debian/Ubuntu) or your system's wine package"
READY_MARK = ".migration-harness-prefix-ready"


class WineNotFound(MigrationHarnessError, FileNotFoundError):
    """Wine is not installed (or not on the PATH searched)."""


def find_wine(path: str | None = None, *, override: str | None = None) -> str:
    """Absolute path of the ``wine`` launcher.

    ``override`` (default: ``$MIGRATION_HARNESS_WINE``) names the launcher explicitly;
    otherwise ``wine`` then ``wine64`` are searched on ``path`` (default: ``$PATH``).
    """
    explicit = override if override is not None else os.environ.get(WINE_ENV)
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            raise WineNotFound(
                f"{WINE_ENV}={explicit!r} is not an executable; point it at wine or unset it"
            )
        return found
    search = os.environ.get("PATH", "") if path is None else path
    for name in ("wine", "wine64"):
        found = shutil.which(name, path=search)
        if found is not None:
            return found
    raise WineNotFound(
        f"wine not found on PATH ({search or 'empty'}); "
        f"the Windows leg needs it on Linux: install it with `{INSTALL_HINT}`"
    )


def wine_environment(prefix: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: a copy of os.environ) plus what a quiet, private prefix needs."""
    env = dict(os.environ if base is None else base)
    env["WINEPREFIX"] = str(prefix)
    env.setdefault("WINEDEBUG", "-all")
    # A fresh prefix would offer to download and install Mono and Gecko; the suite
    # needs neither and the download must not happen.
    env.setdefault("WINEDLLOVERRIDES", "mscoree,mshtml=")
    env.pop("DISPLAY", None)  # console programs only; no window may pop up
    return env


def ensure_prefix(wine: str, prefix: Path, progress: Callable[[str], None]) -> None:
    """Create and initialise the wine prefix once (``wineboot -i``, tens of seconds)."""
    mark = prefix / READY_MARK
    if mark.exists():
        return
    if prefix.exists():
        shutil.rmtree(prefix)  # a half-made prefix from an interrupted run
    prefix.parent.mkdir(parents=True, exist_ok=True)
    progress(f"creating the wine prefix {prefix} (first start of wine: ~10-60 s)")
    env = wine_environment(prefix)
    # wineboot is chatty about harmless things (no 32-bit wine); show it only on failure.
    output = io.BytesIO()
    returncode = run_piped(
        [wine, "wineboot", "-i"], env=env, stdout=output, stderr=output, timeout=600
    )
    if returncode != 0:
        tail = output.getvalue().decode("utf-8", "replace")[-2000:]
        raise RuntimeError(f"`wine wineboot -i` failed with exit status {returncode}:\n{tail}")
    mark.write_text("ok\n")


def running_under_wine() -> bool:
    """True in a Windows process that Wine runs: Wine's ntdll exports wine_get_version,
    which no real Windows has. Tests use it to tell Wine's gaps from Windows behaviour."""
    if sys.platform == "win32":
        import ctypes

        try:
            return hasattr(ctypes.WinDLL("ntdll"), "wine_get_version")
        except OSError:
            return False
    return False
