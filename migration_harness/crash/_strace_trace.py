"""Parse `strace -f -y` output into file-system calls with resolved paths.

strace prints one line per call, ``PID  name(args) = ret``; with ``-y`` every file
descriptor carries its path (``3</repo/config>``, ``AT_FDCWD</cwd>``). Calls that
other processes interrupt are split into ``<unfinished ...>`` / ``<... resumed>``
halves; the entry half decides the call's place in the order, as strace's own
injection counters do.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# The syscalls that change what is on disk. A leading "?" keeps strace quiet about
# names this architecture lacks (aarch64 has no open, rename, unlink...).
MUTATING_SYSCALLS: tuple[str, ...] = (
    "?open", "?creat", "openat", "?openat2",
    "write", "pwrite64", "writev", "?pwritev", "?pwritev2",
    "?rename", "renameat", "?renameat2", "?link", "linkat", "?symlink", "symlinkat",
    "?unlink", "unlinkat", "?rmdir", "?mkdir", "mkdirat",
    "?truncate", "ftruncate", "?fallocate", "fsync", "fdatasync", "?sync_file_range",
)  # fmt: skip

# Calls traced only to serve as anchors: when another process reaches the same count
# of a point's own syscall first, the point's process is killed at its last call
# before the point instead (the disk is the same there). File calls only: their
# counts do not depend on timing, unlike futex, poll or pipe reads.
ANCHOR_SYSCALLS: tuple[str, ...] = (
    "close", "newfstatat", "?fstat", "?stat", "?lstat", "?statx", "lseek", "getdents64",
    "?readlink", "readlinkat", "?access", "faccessat", "?faccessat2", "getcwd", "fcntl",
    "execve", "?dup", "?dup2", "?dup3", "?fchmod", "?chmod", "?fchmodat", "?utimensat",
)  # fmt: skip
_MUTATING_NAMES = frozenset(name.lstrip("?") for name in MUTATING_SYSCALLS)

# Traced to tell threads from processes: strace -f shows thread ids, and a
# multi-threaded program (every Go binary) makes its calls from whichever thread
# runs the code at that moment, which differs from run to run.
THREAD_SYSCALLS: tuple[str, ...] = ("clone", "?clone3")

# The calls a client sends a database server its statements with (libpq and Python's
# socket module: sendto; Go: write). Traced with -yy, which prints a TCP socket's ends.
SEND_SYSCALLS: tuple[str, ...] = ("sendto", "sendmsg", "?sendmmsg", "write", "writev")
_SEND_NAMES = frozenset(name.lstrip("?") for name in SEND_SYSCALLS)

_WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC")

# Where the paths are, per syscall: (raw path argument indexes, fd argument indexes),
# mirroring the arguments strace's -P filter looks at (pathtrace.c).
_ARG_LAYOUT: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "open": ((0,), ()),
    "creat": ((0,), ()),
    "openat": ((1,), (0,)),
    "openat2": ((1,), (0,)),
    "rename": ((0, 1), ()),
    "link": ((0, 1), ()),
    "symlink": ((1,), ()),
    "renameat": ((1, 3), (0, 2)),
    "renameat2": ((1, 3), (0, 2)),
    "linkat": ((1, 3), (0, 2)),
    "symlinkat": ((2,), (1,)),
    "unlink": ((0,), ()),
    "rmdir": ((0,), ()),
    "mkdir": ((0,), ()),
    "truncate": ((0,), ()),
    "unlinkat": ((1,), (0,)),
    "mkdirat": ((1,), (0,)),
}
_FD_ONLY = ("write", "pwrite64", "writev", "pwritev", "pwritev2", "ftruncate", "fallocate",
            "fsync", "fdatasync", "sync_file_range", "sendto", "sendmsg", "sendmmsg")  # fmt: skip

_LINE = re.compile(r"^(?P<pid>\d+)\s+(?P<body>.*)$")
_RESUMED = re.compile(r"^<\.\.\. (?P<name>\w+) resumed>(?P<rest>.*)$")
_CALL = re.compile(r"^(?P<name>\w+)\((?P<rest>.*)$")
_FD = re.compile(r"^(?P<fd>-?\d+|AT_FDCWD)<(?P<path>.*)>$")
_RET_FD = re.compile(r"=\s+\d+<(?P<path>.*)>\s*$")
# A connected TCP socket under -yy: 3<TCP:[127.0.0.1:40312->127.0.0.1:5432]>
_TCP_PEER = re.compile(r"^\d+<TCP:\[[^\]]*->(?P<peer>[^\]]+)\]>$")
_UNFINISHED = " <unfinished ...>"
# "args) = ret", strace pads before "=" to a column; greedy so the last ") =" wins
_RETURN = re.compile(r"^(?P<args>.*)\)\s+= (?P<ret>.*)$")


@dataclass(frozen=True)
class Call:
    """One traced call, in entry order."""

    seq: int
    pid: int
    name: str
    args: tuple[str, ...]
    raw_paths: tuple[str, ...]
    """Path strings exactly as the program passed them (what -P compares)."""
    fd_paths: tuple[str, ...]
    """Paths of real file-descriptor arguments (what -P resolves through /proc)."""
    resolved: tuple[str, ...]
    """Absolute paths the call acts on."""
    mutating: bool
    complete: bool
    """False when the process died inside the call (the killed call)."""
    ret: str = ""
    """The return value as strace printed it (a new thread's id for clone)."""
    peer: str = ""
    """For a call that sends on a TCP socket: the far end, ``host:port`` (needs -yy)."""


def thread_groups(calls: Iterable[Call]) -> dict[int, int]:
    """Each traced id mapped to its thread group's first id (the process).

    A ``clone`` with ``CLONE_THREAD`` makes a thread of the caller's process; any
    other clone, fork or vfork makes a new process.
    """
    group: dict[int, int] = {}
    for call in calls:
        leader = group.setdefault(call.pid, call.pid)
        if call.name not in ("clone", "clone3") or not call.ret.strip().isdigit():
            continue
        child = int(call.ret.strip())
        threaded = any("CLONE_THREAD" in arg for arg in call.args)
        group.setdefault(child, leader if threaded else child)
    return group


def parse_trace(lines: Iterable[str], cwd: str = "") -> list[Call]:
    """Turn strace output lines into calls; entry halves fix the order.

    ``cwd`` anchors relative paths of calls without a directory fd (rename, mkdir...);
    the trace does not show a process's working directory, so a process that changes
    it gets those paths wrong, which only matters for whether they count as in the repo.
    """
    pending: dict[int, tuple[int, str, str]] = {}
    entries: dict[int, tuple[int, int, str, str, bool]] = {}
    seq = 0
    for line in lines:
        match = _LINE.match(line.rstrip("\n"))
        if not match:
            continue
        pid, body = int(match["pid"]), match["body"]
        resumed = _RESUMED.match(body)
        if resumed and pid in pending:
            start, name, head = pending.pop(pid)
            entries[start] = (start, pid, name, head + resumed["rest"], _finished(resumed["rest"]))
            continue
        call = _CALL.match(body)
        if not call:
            continue
        seq += 1
        text = call["rest"]
        if text.endswith(_UNFINISHED):
            pending[pid] = (seq, call["name"], text[: -len(_UNFINISHED)])
            entries[seq] = (seq, pid, call["name"], text[: -len(_UNFINISHED)], False)
        else:
            entries[seq] = (seq, pid, call["name"], text, _finished(text))
    return [_build(*entries[key], cwd) for key in sorted(entries)]


def _finished(text: str) -> bool:
    # strace prints "= ?" for a call the process never returned from (it was killed)
    done = _RETURN.match(text)
    return done is not None and done["ret"].strip() != "?"


def _build(seq: int, pid: int, name: str, text: str, complete: bool, cwd: str) -> Call:
    done = _RETURN.match(text)
    args_text, ret = (done["args"], done["ret"]) if done else (text, "")
    args = tuple(split_args(args_text))
    raw_idx, fd_idx = _ARG_LAYOUT.get(name, ((), (0,) if name in _FD_ONLY else ()))
    raw = tuple(decode_c_string(args[i]) for i in raw_idx if i < len(args) and _quoted(args[i]))
    fds = [_FD.match(args[i]) for i in fd_idx if i < len(args)]
    fd_paths = tuple(decode_c_string(m["path"]) for m in fds if m and m["fd"] != "AT_FDCWD")
    dirs = [decode_c_string(m["path"]) for m in fds if m]
    resolved = _resolve(name, raw, dirs, fd_paths, ret, cwd)
    mutating = _mutating(name, args)
    peer = _peer(args[0]) if name in _SEND_NAMES and args else ""
    return Call(
        seq, pid, name, args, raw, fd_paths, resolved, mutating, complete, ret.strip(), peer
    )


def _peer(fd_arg: str) -> str:
    match = _TCP_PEER.match(fd_arg)
    return match["peer"] if match else ""


def _resolve(
    name: str, raw: tuple[str, ...], dirs: list[str], fd_paths: tuple[str, ...], ret: str, cwd: str
) -> tuple[str, ...]:
    if not raw:
        return tuple(_strip_deleted(p) for p in fd_paths)
    opened = _RET_FD.search("= " + ret) if ret else None
    if opened and name in ("open", "openat", "openat2", "creat"):
        return (decode_c_string(opened["path"]),)
    base = dirs[0] if dirs else cwd
    paths = []
    for number, path in enumerate(raw):
        anchor = dirs[number] if number < len(dirs) else base
        # strace prints Linux paths: join them as POSIX paths on any OS the trace is read on.
        joined = path if posixpath.isabs(path) or not anchor else posixpath.join(anchor, path)
        paths.append(posixpath.normpath(joined))
    return tuple(paths)


def _strip_deleted(path: str) -> str:
    return path.removesuffix(" (deleted)")


def _mutating(name: str, args: tuple[str, ...]) -> bool:
    if name not in _MUTATING_NAMES:
        return False
    if name in ("open", "openat", "openat2"):
        flags = args[1] if name == "open" and len(args) > 1 else " ".join(args[2:3])
        return any(flag in flags for flag in _WRITE_FLAGS)
    return True


def _quoted(arg: str) -> bool:
    return arg.startswith('"')


# One token of strace's argument text: a quoted string (escapes and all, or to the end if
# cut short), a socket's "->", a bracket, a comma, or a run of anything else. Splitting by
# tokens rather than characters: traces hold tens of thousands of calls.
_ARG_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|->|[{[<(]|[}\]>)]|,|[^"{}\[\]<>(),-]+|-', re.DOTALL)
_OPENING = frozenset("{[<(")
_CLOSING = frozenset("}]>)")


def split_args(text: str) -> Iterator[str]:
    """Split strace's argument text at top-level commas (not inside quotes, {}, [] or <>;
    the ``->`` of a socket's "local->remote" under -yy closes nothing)."""
    depth, start = 0, 0
    for token in _ARG_TOKEN.finditer(text):
        first = token.group()[0]
        if first in _OPENING:
            depth += 1
        elif first in _CLOSING:
            depth -= 1
        elif first == "," and depth == 0:
            yield text[start : token.start()].strip()
            start = token.end()
    last = text[start:].strip()
    if last:
        yield last


_ESCAPES = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b"v": b"\v", b"f": b"\f"}
# \xHH, \ooo (one to three octal digits) or a backslash before any other byte.
_C_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)", re.DOTALL)


def decode_c_string(text: str) -> str:
    """Undo strace's C-style quoting: a path as the OS names it."""
    return os.fsdecode(decode_c_bytes(text))


def decode_c_bytes(text: str) -> bytes:
    """Undo strace's C-style quoting (octal and hex escapes stand for raw bytes)."""
    if text.startswith('"'):
        text = text[1:]
        text = text[: text.rfind('"')] if '"' in text else text
    raw = os.fsencode(text)
    return _C_ESCAPE.sub(_unescape, raw) if b"\\" in raw else raw


def _unescape(match: re.Match[bytes]) -> bytes:
    code = match[1]
    if len(code) == 3 and code[:1] == b"x":
        return bytes([int(code[1:], 16)])
    if code[:1] in b"01234567":
        return bytes([int(code, 8)])
    return _ESCAPES.get(code, code)
