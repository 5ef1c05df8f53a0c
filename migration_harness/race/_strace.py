"""Strace delays (Linux): learn the repo's paths from one traced run, then slow each
racer down on exactly those.

strace's ``-P`` selects calls by exact path (or by a file descriptor open on one), not
by directory, so the paths come from a trace of one migration of the same repo. Each
racer then runs as ``strace -f -P path... -e inject=SYSCALLS:delay_exit=D``: every call
it makes on those paths returns, and the racer sleeps ``D`` before going on. ``D`` is
the budget spread over the calls the traced run made there, so a racer loses about
the budget whatever the tool's size. ``-f`` follows whatever the racer starts
(external steps), and ``-o /dev/null -qqq`` leaves its output as it was. ``-D`` keeps
the tracer out of the way: the racer is the process the harness started, its exit
status is its own, and it ends when it exits, not when a child it left running does.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from migration_harness.crash._strace import seccomp_args, strace_unavailable_reason
from migration_harness.crash._strace_trace import Call, decode_c_string, parse_trace
from migration_harness.proc import run
from migration_harness.race._racing import DelaysUnavailable, Racing

#: Below this a racer's delays widen nothing worth running it under strace.
MIN_BUDGET_S = 0.05
#: No single call is held longer, however few calls the tool makes on its repo.
MAX_DELAY_US = 200_000
#: -P paths at most (the most used first); strace compares each call against every one.
MAX_PATHS = 512

_FD_ARG = re.compile(r"^(?:-?\d+|AT_FDCWD)<(?P<path>.*)>$")


def delays_unavailable_reason(budget_s: float) -> str | None:
    """Why racers cannot be slowed down here with ``budget_s`` seconds each, or None."""
    if not sys.platform.startswith("linux"):
        return f"strace delays need Linux (this is {sys.platform})"
    reason = strace_unavailable_reason()
    if reason is not None:
        return reason
    if budget_s < MIN_BUDGET_S:
        return (
            f"the time limits leave {budget_s:.2f}s per racer for delays, below "
            f"{MIN_BUDGET_S:g}s (a longer lock_wait_s or timeout_s leaves more)"
        )
    return None


def plan_delays(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None,
    cwd: Path,
    repo: Path,
    budget_s: float,
    timeout: float,
) -> Racing:
    """The strace prefix that costs each racer about ``budget_s`` in delays on ``repo``'s
    paths; raises :class:`DelaysUnavailable` where that cannot be done."""
    reason = delays_unavailable_reason(budget_s)
    if reason is not None:
        raise DelaysUnavailable(reason)
    touched = _repo_calls(_trace(args, env=env, cwd=cwd, timeout=timeout), repo, str(cwd))
    if not touched:
        raise DelaysUnavailable("the traced migration made no call on the repo's files")
    counts = Counter(path for _call, paths in touched for path in paths)
    paths = [path for path, _ in counts.most_common(MAX_PATHS)]
    syscalls = ",".join(sorted({call.name for call, _paths in touched}))
    delay_us = max(1, min(MAX_DELAY_US, round(budget_s * 1e6 / len(touched))))
    prefix = [
        _strace(),
        "-D",
        "-f",
        "-qqq",
        "-o",
        os.devnull,
        *seccomp_args(),
        "-e",
        f"trace={syscalls}",
        *(arg for path in paths for arg in ("-P", path)),
        "-e",
        f"inject={syscalls}:delay_exit={delay_us}",
    ]
    return Racing("strace delays", tuple(prefix))


def _trace(
    args: Sequence[str], *, env: Mapping[str, str] | None, cwd: Path, timeout: float
) -> list[Call]:
    """Run ``args`` once under ``strace -f -y``; its file and descriptor calls."""
    with tempfile.TemporaryDirectory(prefix="mh-race-") as tmp:
        trace_file = Path(tmp) / "trace"
        command = [_strace(), "-D", "-f", "-qqq", "-y", "-e", "signal=none", "-o", str(trace_file)]
        command += ["-e", "trace=%file,%desc", "--", *args]
        result = run(command, env=env, cwd=cwd, timeout=timeout)
        if not result.ok:
            how = "timed out" if result.timed_out else f"exit {result.returncode}"
            raise DelaysUnavailable(
                f"the migration run once under strace to find the repo's paths failed ({how})"
            )
        with trace_file.open(encoding="utf-8", errors="surrogateescape") as lines:
            return parse_trace(lines, str(cwd))


def _repo_calls(calls: Iterable[Call], repo: Path, cwd: str) -> list[tuple[Call, list[str]]]:
    """The calls that name a path inside ``repo``, each with the strings ``-P`` would
    match it by: paths as passed, and the paths of its file descriptors."""
    roots = {os.path.abspath(repo), os.path.realpath(repo)}
    found = []
    for call in calls:
        if call.name.startswith("exec"):
            continue  # its argument list names the repo; the program is elsewhere
        paths = [p for p in _path_strings(call, cwd) if _inside(p[1], roots)]
        if paths:
            found.append((call, sorted({given for given, _resolved in paths})))
    return found


# Calls whose quoted arguments are paths (the others' are data read or written).
_PATH_CALLS = frozenset(
    ("open", "creat", "stat", "lstat", "statx", "statfs", "access", "mkdir", "rmdir", "unlink",
     "rename", "link", "symlink", "readlink", "chmod", "chown", "lchown", "truncate", "utime",
     "utimes", "getxattr", "lgetxattr", "setxattr", "lsetxattr", "listxattr", "removexattr")
)  # fmt: skip


def _path_strings(call: Call, cwd: str) -> Iterable[tuple[str, str]]:
    """(as given, absolute) for each descriptor and each path argument of ``call``."""
    paths_quoted = call.name in _PATH_CALLS or call.name.endswith(("at", "at2"))
    base = cwd
    for arg in call.args:
        fd = _FD_ARG.match(arg)
        if fd is not None:
            path = decode_c_string(fd["path"]).removesuffix(" (deleted)")
            base = path
            if not arg.startswith("AT_FDCWD"):
                yield path, path
        elif paths_quoted and arg.startswith('"'):
            given = decode_c_string(arg)
            if given and "\0" not in given:
                yield given, posixpath.normpath(posixpath.join(base, given))


def _strace() -> str:
    return shutil.which("strace") or "strace"


def _inside(path: str, roots: set[str]) -> bool:
    # A plain prefix: a repo that is one file (a SQLite database) keeps its journal
    # beside it (app.db-journal, -wal, -shm), and a lock file beside a repo directory
    # (repo.lock) is as much part of the race.
    return any(path.startswith(root) for root in roots)
