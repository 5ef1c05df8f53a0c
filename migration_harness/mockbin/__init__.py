"""Mock executables built from a behaviour spec.

A mock is a real executable (a script with a shebang on POSIX, a distlib
launcher ``.exe`` on Windows) that behaves as its behaviour spec says (exit
code, output, files written or replaced, a version file, a lock file, required
flags, a hard crash, or ``passthrough`` to the real program as a spy) and
appends one JSON line per run to its call log.

>>> import tempfile
>>> from migration_harness.env import IsolatedEnv
>>> from migration_harness.mockbin import build_mock
>>> with tempfile.TemporaryDirectory() as tmp:
...     mock = build_mock(tmp, "fs-repo-1-to-2", {"require_flags": ["-path"], "stdout": "done"})
...     env = IsolatedEnv()
...     env.prepend_path(mock.directory)  # the mock first on this PATH, not os.environ's
...     print(env.run(["fs-repo-1-to-2", "-path=/repo"]).stdout)
...     print([call.args for call in mock.calls()])
done
[['-path=/repo']]
"""

from migration_harness.mockbin._bin import MockBin
from migration_harness.mockbin._build import MockBuildError, build_mock, open_mock
from migration_harness.mockbin._model import MockCall, MockExecutable
from migration_harness.mockbin._spec import BEHAVIOUR_KEYS, LOCK_ACTIONS, MockSpecError

__all__ = [
    "BEHAVIOUR_KEYS",
    "LOCK_ACTIONS",
    "MockBin",
    "MockBuildError",
    "MockCall",
    "MockExecutable",
    "MockSpecError",
    "build_mock",
    "open_mock",
]
