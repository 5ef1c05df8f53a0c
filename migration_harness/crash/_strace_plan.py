"""Plan the strace backend's crash points: which injection fires at exactly which call.

strace counts calls per traced process and per syscall, and fires at the first
process whose count reaches N. A plan is therefore checked against the recorded
trace ("which call would reach N first?"). Preferred: count only the calls that
touch the point's own paths (``-P``), immune to calls that vary between runs
(imports, byte-code caches). Else: count every call of that syscall. Else: the
nearest earlier call of the same process after the last repo mutation (the disk
is the same there), planned the same way.

A multi-threaded process (any Go binary) makes each call from whichever of its
threads runs the code then, so strace's per-thread counts differ from run to run.
Its points are counted over all threads instead (``Injection.all_threads``), which
the crash run checks itself; only calls on stable paths can be planned that way.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from migration_harness.crash._points import CrashPoint, Injection
from migration_harness.crash._strace_trace import Call, decode_c_bytes, thread_groups
from migration_harness.files import in_repo


def mutations(calls: list[Call], repo: Path) -> list[tuple[str, tuple[str, ...]]]:
    """The repo mutations of a trace, comparable between runs."""
    inside = _repo_test(repo)
    return [(c.name, signature(c)) for c in calls if c.mutating and inside(c.resolved)]


def signature(call: Call) -> tuple[str, ...]:
    """A call's path arguments with digit runs masked (pids, counters in temp names)."""
    return tuple(re.sub(r"\d+", "#", p) for p in (*call.raw_paths, *call.fd_paths))


# Calls that change or remove what a path holds (opening with O_TRUNC is checked apart).
_OVERWRITING = frozenset(
    ("write", "pwrite64", "writev", "pwritev", "pwritev2", "ftruncate", "truncate", "fallocate",
     "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir")
)  # fmt: skip


def plan_points(
    calls: list[Call],
    repo: Path,
    existing: frozenset[str] = frozenset(),
    peers: frozenset[str] = frozenset(),
) -> tuple[list[CrashPoint], list[CrashPoint]]:
    """Crash points (reachable by an injection) and the unreachable ones, in call order.

    ``existing``: absolute paths of the files in the repo before the run; calls that
    overwrite one of them are marked (sampling keeps them first). ``peers``: the
    ``host:port`` of database servers holding the repo's data; each send to one of them
    (a statement, a commit) is a point too.
    """
    inside = _repo_test(repo)
    group = thread_groups(calls)
    threaded = _threaded_processes(group)
    order: dict[int, int] = {}
    counted: dict[tuple[int, str], int] = defaultdict(int)
    ordinal: dict[int, int] = {}
    by_name: dict[str, list[Call]] = defaultdict(list)
    pids = {str(call.pid) for call in calls}
    for call in calls:
        order.setdefault(group.get(call.pid, call.pid), len(order) + 1)
        by_name[call.name].append(call)
        counted[call.pid, call.name] += 1
        ordinal[call.seq] = counted[call.pid, call.name]
    reachable: list[CrashPoint] = []
    unreachable: list[CrashPoint] = []
    previous = -1  # position of the last repo mutation, in any process
    for position, call in enumerate(calls):
        sends = call.peer in peers
        if not (sends or (call.mutating and inside(call.resolved))):
            continue
        process = group.get(call.pid, call.pid)
        planner: Planner = _all_thread_plans if process in threaded else _plans
        if sends:
            planner = _all_thread_send_plans if process in threaded else _send_plans
        plans = planner(call, ordinal[call.seq], by_name[call.name], pids)
        if not plans and sends:
            planner = _all_thread_plans if process in threaded else _plans
        anchor = None
        if not plans:
            anchor, plans = _anchor(calls, position, previous, ordinal, by_name, pids, planner)
        previous = position
        point = CrashPoint(
            index=len(reachable) + 1,
            syscall=call.name,
            path="" if sends else next(iter(p for p in call.resolved if inside((p,))), ""),
            detail=_detail(call, order[process], ordinal[call.seq], plans, anchor),
            backend="strace",
            process=order[process],
            nth=ordinal[call.seq],
            injections=plans,
            overwrites=_overwrites(call, existing),
        )
        (reachable if plans else unreachable).append(point)
    return reachable, unreachable


# How far back to look for an anchor call; each try scans the trace once.
_ANCHOR_TRIES = 200


def _threaded_processes(group: dict[int, int]) -> set[int]:
    """The processes (thread-group leaders) seen with more than one thread."""
    members: dict[int, int] = defaultdict(int)
    for leader in group.values():
        members[leader] += 1
    return {leader for leader, count in members.items() if count > 1}


Planner = Callable[[Call, int, list[Call], set[str]], tuple[Injection, ...]]


def _anchor(
    calls: list[Call],
    position: int,
    previous: int,
    ordinal: dict[int, int],
    by_name: dict[str, list[Call]],
    pids: set[str],
    planner: Planner,
) -> tuple[Call | None, tuple[Injection, ...]]:
    """The nearest earlier call of the same process, after the last repo mutation, that an
    injection reaches first: killing there leaves the disk as killing at the point would."""
    target = calls[position]
    tries = 0
    for index in range(position - 1, previous, -1):
        call = calls[index]
        if call.pid != target.pid:
            continue
        tries += 1
        if tries > _ANCHOR_TRIES:
            break
        plans = planner(call, ordinal[call.seq], by_name[call.name], pids)
        if plans:
            return call, plans
    return None, ()


def _overwrites(call: Call, existing: frozenset[str]) -> bool:
    truncating = call.name.startswith(("open", "creat")) and (
        call.name == "creat" or any("O_TRUNC" in arg for arg in call.args)
    )
    touched = any(path in existing for path in (*call.resolved, *call.fd_paths))
    return touched and (truncating or call.name in _OVERWRITING)


def _repo_test(repo: Path) -> Callable[[Sequence[str]], bool]:
    """Whether any of some absolute paths is part of the repo (as given or canonical): under
    a directory repo, or a single-file repo and its companions (SQLite's -journal)."""
    single_file = os.path.isfile(repo)
    roots = {os.path.abspath(repo), os.path.realpath(repo)}
    return lambda paths: any(
        in_repo(p, root, single_file=single_file) for p in paths for root in roots
    )


# tempfile's names (tmpk3j_x9a2); with names holding a pid they vary from run to run
_TEMPFILE_NAME = re.compile(r"tmp[a-z0-9_]{8}")


def _volatile(path: str, pids: set[str]) -> bool:
    """True for names that will differ in the next run: -P cannot select them ahead."""
    name = os.path.basename(path)
    return bool(_TEMPFILE_NAME.search(name) or pids.intersection(re.findall(r"\d+", name)))


def _plans(
    call: Call, nth_all: int, same_name: list[Call], pids: set[str]
) -> tuple[Injection, ...]:
    """The injections that would fire first at ``call``, preferred plan first."""
    if call.peer:
        return ()  # a socket: -P cannot select it, and sends to servers plan apart
    paths = tuple(sorted({*call.raw_paths, *call.fd_paths, *call.resolved}))
    # strace also selects the canonical form of each -P path
    selected = {*paths, *(os.path.realpath(p) for p in paths if os.path.isabs(p))}
    matching = [c for c in same_name if c.pid == call.pid and c.seq <= call.seq]
    nth_path = sum(1 for c in matching if _matches(c, selected))
    plans = []
    stable = paths and not any(_volatile(p, pids) for p in paths)
    expect = signature(call)
    if stable and _first_reached(same_name, nth_path, selected) is call:
        plans.append(Injection(call.name, nth_path, paths, expect))
    if _first_reached(same_name, nth_all, None) is call:
        plans.append(Injection(call.name, nth_all, (), expect))
    return tuple(plans)


def _all_thread_plans(
    call: Call, _nth_in_thread: int, same_name: list[Call], pids: set[str]
) -> tuple[Injection, ...]:
    """For a multi-threaded process: the count of calls on the same stable paths, over
    every thread and process, up to this one (the crash run counts them itself)."""
    paths = tuple(sorted({*call.raw_paths, *call.fd_paths, *call.resolved}))
    if not paths or any(_volatile(p, pids) for p in paths):
        return ()
    selected = {*paths, *(os.path.realpath(p) for p in paths if os.path.isabs(p))}
    nth = sum(1 for c in same_name if c.seq <= call.seq and _matches(c, selected))
    return (Injection(call.name, nth, paths, signature(call), all_threads=True),)


def _send_plans(
    call: Call, nth_all: int, same_name: list[Call], _pids: set[str]
) -> tuple[Injection, ...]:
    """A send to the server in a single-threaded process: the nth call of its syscall in
    that process, whatever it sends to (strace cannot select a socket)."""
    if _first_reached(same_name, nth_all, None) is call:
        return (Injection(call.name, nth_all, (), signature(call)),)
    return ()


def _all_thread_send_plans(
    call: Call, _nth_in_thread: int, same_name: list[Call], _pids: set[str]
) -> tuple[Injection, ...]:
    """A send to the server from a multi-threaded process (a Go client): the count of
    sends to that server over every thread, up to this one (the crash run counts them)."""
    nth = sum(1 for c in same_name if c.seq <= call.seq and c.peer == call.peer)
    return (Injection(call.name, nth, (), signature(call), all_threads=True, peer=call.peer),)


def _matches(call: Call, selected: set[str]) -> bool:
    return any(p in selected for p in (*call.raw_paths, *call.fd_paths))


def _first_reached(calls: list[Call], nth: int, selected: set[str] | None) -> Call | None:
    """The call at which strace's per-process counter first reaches ``nth``."""
    counts: dict[int, int] = defaultdict(int)
    for call in calls:
        if selected is not None and not _matches(call, selected):
            continue
        counts[call.pid] += 1
        if counts[call.pid] == nth:
            return call
    return None


def _detail(
    call: Call, process: int, nth: int, plans: tuple[Injection, ...], anchor: Call | None
) -> str:
    how = f"killed at the {plans[0].describe()}" if plans else "no injection reaches it first"
    if anchor is not None:
        how += f", the {show_call(anchor)} just before it (no repo change in between)"
    return f"{show_call(call)} [process {process}, call #{nth} of {call.name}]; {how}"


# The argument holding the bytes a call writes. Binary data is left out of what the user
# reads: it is often random per run (SQLite's journal header carries a random nonce), so
# the same point would read differently each run; text (a version line) is kept.
_DATA_ARGUMENT = {"write": 1, "pwrite64": 1, "writev": 1, "pwritev": 1, "pwritev2": 1}
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def show_call(call: Call) -> str:
    """The call as strace printed it, binary data written replaced by ``<binary data>``;
    a send to a server as the text it sends (its statement)."""
    if call.peer:
        return f"sends {sent_text(call)} to the server"
    args = list(call.args)
    data = _DATA_ARGUMENT.get(call.name)
    if data is not None and data < len(args) and not _reads_as_text(args[data]):
        args[data] = "<binary data>"
    shown = ", ".join(args)
    if len(shown) > 160:
        shown = shown[:157] + "..."
    return f"{call.name}({shown})"


# Runs of text inside a wire-protocol message: the statement, names; not lengths or flags.
_TEXT_RUN = re.compile(r"[\x20-\x7e]{3,}")
# The headers before a statement's text: PostgreSQL's Query ("Q", length) and Parse ("P",
# length, statement name), MariaDB's COM_QUERY (length, sequence number, 0x03).
_STATEMENT = re.compile(rb"\AQ.{4}|\AP.{4}[^\0]*\0|\A.{4}\x03", re.S)


def sent_text(call: Call) -> str:
    """The text a send carries, quoted: PostgreSQL's and MariaDB's protocols send each
    statement as plain text after a binary header. strace prints the first bytes only."""
    data = call.args[1] if len(call.args) > 1 and call.args[1].startswith('"') else '""'
    raw = decode_c_bytes(data)
    header = _STATEMENT.match(raw)
    raw = raw[header.end() :] if header else raw
    text = " ".join(_TEXT_RUN.findall(raw.decode("utf-8", "replace")))
    text = text if len(text) <= 100 else text[:97] + "..."
    return f'"{text}"' if text else "<binary data>"


def _reads_as_text(argument: str) -> bool:
    """True when every string strace printed in ``argument`` is printable UTF-8 text."""
    try:
        texts = [decode_c_bytes(quoted).decode("utf-8") for quoted in _QUOTED.findall(argument)]
    except UnicodeDecodeError:
        return False
    return all(char.isprintable() or char in "\n\r\t" for text in texts for char in text)
