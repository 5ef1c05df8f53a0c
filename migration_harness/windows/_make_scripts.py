"""Run *by the Windows Python*: write ``Scripts\\<name>.exe`` for every console script.

pip writes these launchers when it installs on Windows; the provisioned environment
is unpacked, not pip-installed, so they are made here, with distlib's Windows
launchers. It runs inside the Windows interpreter because distlib picks the
launcher and the shebang for the platform it runs on.
"""

from __future__ import annotations

import sys
from importlib.metadata import distributions

from distlib.scripts import ScriptMaker


def make_launchers(target_dir: str) -> list[str]:
    maker = ScriptMaker(None, target_dir)
    maker.executable = sys.executable
    maker.variants = {""}  # `pytest.exe`, not also `pytest-3.13.exe`
    made: list[str] = []
    for dist in distributions():
        for entry in dist.entry_points.select(group="console_scripts"):
            made.extend(maker.make(f"{entry.name} = {entry.value}"))
    return made


if __name__ == "__main__":
    for path in make_launchers(sys.argv[1]):
        print(path)
