"""Executables that run Python code: a shebang script on POSIX, a distlib launcher ``.exe``
on Windows, the way pip writes console scripts. Mock executables and the console scripts a
target declares (``console_scripts``) are both made here; the platform is chosen once."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path

if sys.platform == "win32":
    from migration_harness.launchers._windows import write_launcher
else:
    from migration_harness.launchers._posix import write_launcher

__all__ = ["console_script_source", "write_console_scripts", "write_launcher"]


def console_script_source(entry_point: str) -> str:
    """The stub of a console script that calls ``entry_point`` and exits with its result.

    The directory the entry point's top-level package is imported from now goes first on
    ``sys.path``: the script then runs the code this process runs, also when that code is
    not installed in the interpreter's site-packages (a checkout, the Windows leg)."""
    module, function = entry_point.split(":")
    root = _import_root(module.split(".")[0])
    head = f"import sys\nsys.path.insert(0, {root!r})\n" if root else "import sys\n"
    return f"{head}import {module} as _m\nsys.exit(_m.{function}())\n"


def write_console_scripts(
    directory: Path, scripts: Mapping[str, str], *, interpreter: str | None = None
) -> list[Path]:
    """Write one executable per ``name = "module:function"`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    return [
        write_launcher(directory, name, console_script_source(ep), interpreter=interpreter)
        for name, ep in scripts.items()
    ]


def _import_root(package: str) -> str | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(Path(next(iter(spec.submodule_search_locations))).parent)
