"""Windows launchers: a real ``.exe``, distlib's console launcher with a zipped script.

The same layout pip uses for console scripts: launcher bytes, then a
``#!"<python>" [args]`` line naming the interpreter, then a zip archive whose
``__main__.py`` is the stub. The launcher runs ``<python> [args] <the .exe> args``
and Python runs the zip. Built by hand from distlib's launcher resource because
ScriptMaker only offers launchers when it runs on Windows, and building them
anywhere lets the Linux test suite check the file.
"""

from __future__ import annotations

import functools
import io
import struct
import sys
import sysconfig
import zipfile
from pathlib import Path

from distlib.resources import finder
from distlib.scripts import enquote_executable

__all__ = ["launcher_name", "write_launcher"]

# A fixed timestamp keeps the .exe reproducible (and skips a clock read).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def launcher_name() -> str:
    """distlib's console launcher for this interpreter's architecture."""
    bits = "64" if struct.calcsize("P") == 8 else "32"
    arm = "-arm" if sysconfig.get_platform() == "win-arm64" else ""
    return f"t{bits}{arm}.exe"


@functools.cache
def _launcher(name: str) -> bytes:
    resource = finder("distlib").find(name)
    if resource is None:
        raise FileNotFoundError(f"distlib has no launcher {name!r}; reinstall distlib")
    data: bytes = resource.bytes
    return data


def write_launcher(
    directory: Path,
    name: str,
    stub: str,
    *,
    interpreter: str | None = None,
    interpreter_args: str = "",
) -> Path:
    """Write ``directory/name.exe`` running ``stub`` with ``interpreter``."""
    executable = enquote_executable(interpreter or sys.executable)
    shebang = f"#!{' '.join(filter(None, (executable, interpreter_args)))}\n".encode()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo("__main__.py", date_time=_ZIP_TIME), stub.encode("utf-8"))
    target = directory / f"{name}.exe"
    target.write_bytes(_launcher(launcher_name()) + shebang + archive.getvalue())
    return target
