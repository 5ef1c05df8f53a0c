"""A per-test environment and PATH that never touches ``os.environ``.

Kubo's parallel tests once shared one process environment: a test's
``os.Setenv("PATH", ...)`` leaked into its neighbours and the tool under test
downloaded real binaries instead of running the mocks. :class:`IsolatedEnv`
keeps each test's variables in a plain dict, resolves executables against
*that* PATH (``CreateProcess`` on Windows searches the parent's PATH, not the
child's ``env``), and hands the dict to the child process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

# PATH lookup lives with the processes (one home); it is re-exported here.
from migration_harness import proc
from migration_harness._platform import IS_WINDOWS
from migration_harness.proc import DEFAULT_PATHEXT, ExecutableNotFound, RunResult, which

if TYPE_CHECKING:
    import subprocess

__all__ = ["DEFAULT_PATHEXT", "ExecutableNotFound", "IsolatedEnv", "which"]


#: Variables a Windows child needs even when the caller's base env lacks them:
#: without SYSTEMROOT, CPython's random/crypto and Winsock fail in odd ways.
DEFAULT_KEEP: tuple[str, ...] = ("SYSTEMROOT",) if IS_WINDOWS else ()

#: Variables the parent rewrites as it goes (pytest names the test and its phase in
#: PYTEST_CURRENT_TEST): a copy taken at fixture setup would go stale, so a child gets
#: the value of the moment it starts, unless the test set or unset it itself.
FOLLOWS_PARENT: tuple[str, ...] = ("PYTEST_CURRENT_TEST",)

PathLike = str | os.PathLike[str]


class IsolatedEnv:
    """One test's environment variables and PATH, kept apart from ``os.environ``.

    ``base`` defaults to a copy of ``os.environ``; ``overrides`` sets keys, or
    removes them when the value is ``None``. On Windows keys are
    case-insensitive (stored upper-case, as ``os.environ`` does there); pass
    ``case_insensitive`` to choose explicitly. Names in ``keep`` (SYSTEMROOT on
    Windows) are copied from ``os.environ`` when the base lacks them. When the base
    is ``os.environ``, names in :data:`FOLLOWS_PARENT` are not copied but read from
    ``os.environ`` each time the variables are handed out.

    >>> env = IsolatedEnv(overrides={"LANG": "C"})
    >>> env.prepend_path("/opt/mock-bin")
    >>> env.path[0]
    '/opt/mock-bin'
    """

    def __init__(
        self,
        base: Mapping[str, str] | None = None,
        *,
        overrides: Mapping[str, str | None] | None = None,
        case_insensitive: bool | None = None,
        keep: Iterable[str] = DEFAULT_KEEP,
    ) -> None:
        self._fold = IS_WINDOWS if case_insensitive is None else case_insensitive
        source = dict(os.environ) if base is None else dict(base)
        self._data: dict[str, str] = {self._key(k): str(v) for k, v in source.items()}
        self._follow = {self._key(name) for name in FOLLOWS_PARENT} if base is None else set()
        for key in self._follow:
            self._data.pop(key, None)
        for name in keep:
            if self._key(name) not in self._data and name in os.environ:
                self._data[self._key(name)] = os.environ[name]
        for key, value in (overrides or {}).items():
            if value is None:
                self.unset(key)
            else:
                self.set(key, value)

    def _key(self, key: str) -> str:
        if not isinstance(key, str) or not key or "=" in key[1:] or "\0" in key:
            raise ValueError(f"invalid environment variable name {key!r}")
        return key.upper() if self._fold else key

    @property
    def vars(self) -> dict[str, str]:
        """A fresh copy of the variables, ready for ``subprocess``'s ``env=``."""
        live = {key: os.environ[key] for key in self._follow if key in os.environ}
        return {**self._data, **live}

    def get(self, key: str, default: str | None = None) -> str | None:
        name = self._key(key)
        if name in self._follow:
            return os.environ.get(name, default)
        return self._data.get(name, default)

    def set(self, key: str, value: str | os.PathLike[str]) -> None:
        text = os.fspath(value)
        if "\0" in text:
            raise ValueError(f"environment variable {key!r}: value contains a NUL character")
        self._follow.discard(self._key(key))
        self._data[self._key(key)] = text

    def unset(self, key: str) -> None:
        self._follow.discard(self._key(key))
        self._data.pop(self._key(key), None)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __repr__(self) -> str:
        return f"IsolatedEnv(changed={sorted(self.changes())!r})"

    def changes(self) -> dict[str, str | None]:
        """What differs from ``os.environ``: new or changed values, ``None`` for removed."""
        current = {self._key(k): v for k, v in os.environ.items()}
        ours = self.vars
        diff: dict[str, str | None] = {k: v for k, v in ours.items() if current.get(k) != v}
        diff.update({k: None for k in current if k not in ours})
        return diff

    def copy(self) -> IsolatedEnv:
        twin = IsolatedEnv(self._data, case_insensitive=self._fold, keep=())
        twin._follow = set(self._follow)
        return twin

    # PATH handling

    @property
    def path(self) -> list[str]:
        """The PATH entries, in search order (empty entries dropped)."""
        return [p for p in (self.get("PATH") or "").split(os.pathsep) if p]

    def _set_path(self, entries: Sequence[str]) -> None:
        self.set("PATH", os.pathsep.join(entries))

    def prepend_path(self, *dirs: PathLike) -> None:
        """Put ``dirs`` (in the order given) in front of PATH."""
        self._set_path([*(os.fspath(d) for d in dirs), *self.path])

    def append_path(self, *dirs: PathLike) -> None:
        """Put ``dirs`` at the end of PATH."""
        self._set_path([*self.path, *(os.fspath(d) for d in dirs)])

    # Spawning

    def which(self, name: str) -> str | None:
        """Find ``name`` on this environment's PATH (and PATHEXT on Windows)."""
        pathext = self.get("PATHEXT") if IS_WINDOWS else None
        return which(name, self.get("PATH"), pathext=pathext)

    def resolve(self, args: Sequence[str | os.PathLike[str]]) -> list[str]:
        """``args`` with ``args[0]`` replaced by its full path on this PATH.

        Raises :class:`ExecutableNotFound` naming the executable and the PATH.
        """
        if not args:
            raise ValueError("empty command: expected at least the executable name")
        argv = [os.fspath(a) for a in args]
        found = self.which(argv[0])
        if found is None:
            raise ExecutableNotFound(argv[0], self.get("PATH"))
        return [found, *argv[1:]]

    def run(
        self,
        args: Sequence[str | os.PathLike[str]],
        *,
        cwd: PathLike | None = None,
        timeout: float | None = 60.0,
        input: bytes | str | None = None,
    ) -> RunResult:
        """Run ``args`` in this environment (see :func:`migration_harness.proc.run`)."""
        return proc.run(self.resolve(args), env=self.vars, cwd=cwd, timeout=timeout, input=input)

    def popen(self, args: Sequence[str | os.PathLike[str]], **kw: Any) -> subprocess.Popen[Any]:
        """Start ``args`` in this environment, tracked like :func:`migration_harness.proc.popen`."""
        return proc.popen(self.resolve(args), env=self.vars, **kw)
