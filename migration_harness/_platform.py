"""The OS flag and the path type of the whole package, defined once.

A leaf: it imports nothing of the package, so any module may import it. (The mock
runner, which starts with builtin modules only, keeps a copy of the flag.)
"""

from __future__ import annotations

import os
import sys

#: True on Windows (and under Wine); the per-platform modules are chosen by it or by
#: ``sys.platform`` checks that mypy understands.
IS_WINDOWS = sys.platform == "win32"

#: A filesystem path as the package's functions accept it.
StrPath = str | os.PathLike[str]
