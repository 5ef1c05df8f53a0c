"""POSIX launchers: a Python script with a shebang and the run bit.

distlib's ScriptMaker writes it, the way pip writes console scripts: it knows
the shebang length limit (127 bytes on Linux) and interpreter paths with
spaces, and falls back to a ``/bin/sh`` exec wrapper for both.
"""

from __future__ import annotations

import sys
from pathlib import Path

from distlib.scripts import ScriptMaker, enquote_executable

__all__ = ["write_launcher"]


def write_launcher(
    directory: Path,
    name: str,
    stub: str,
    *,
    interpreter: str | None = None,
    interpreter_args: str = "",
) -> Path:
    """Write ``directory/name``: ``stub`` (Python source) behind a shebang, mode 0o755."""
    maker = ScriptMaker(None, str(directory), add_launchers=False)
    maker.executable = enquote_executable(interpreter or sys.executable)
    maker.clobber = True
    maker.variants = {""}
    # ScriptMaker fills the template with %-formatting: escape the stub's own %.
    maker.script_template = stub.replace("%", "%%")
    options = {"interpreter_args": [interpreter_args]} if interpreter_args else None
    written = maker.make(f"{name} = launcher:main", options=options)
    return Path(written[0])
