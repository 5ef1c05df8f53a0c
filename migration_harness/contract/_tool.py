"""Run the target's commands for one contract case, keeping a transcript for failures."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from migration_harness.contract._failure import (
    ContractFailure,
    cannot_start,
    dump_diff,
    excerpt,
    has_stack_trace,
)
from migration_harness.env import IsolatedEnv
from migration_harness.proc import RunResult, run, stop_left_running
from migration_harness.proc._run import format_command
from migration_harness.scratch import Scratch
from migration_harness.target import Command, Target, fill, fill_command, global_values

if TYPE_CHECKING:
    from migration_harness.contract.created import CreatedRepos
    from migration_harness.contract.repo_databases import RepoDatabases
    from migration_harness.files import TreeSnapshot

# Extra time a command gets beyond the target's own bound before the contract calls it hung.
HANG_MARGIN_S = 30.0
# How long what a command started may still run after it exited (a helper finishing up)
# before it counts as left behind. Daemons are started through the daemon contract instead.
LEFT_RUNNING_GRACE_S = 2.0


#: How a snapshot names a repo's database among its files.
SNAPSHOT_ENTRY = "<database>"

# Where a case's console scripts are made, inside its scratch directory.
CONSOLE_SCRIPTS_DIR = "bin"


class Tool:
    """One target's commands, bound to an isolated environment and a scratch directory."""

    def __init__(self, target: Target, workdir: Path, env: IsolatedEnv | None = None) -> None:
        self.target = target
        self.workdir = workdir
        # Every delete or write of the harness in this case goes through here.
        self.scratch = Scratch(workdir)
        self.env = env if env is not None else isolated_env_for(target)
        if env is None and target.console_scripts:
            self.env.prepend_path(str(self._make_console_scripts()))
        self.transcript = Transcript()
        # The run's repos created once (check sets it); None: every create runs the tool.
        self.created: CreatedRepos | None = None
        self._databases: RepoDatabases | None = None

    @property
    def databases(self) -> RepoDatabases | None:
        """The repos' databases (a target with a [target.database]), on first use."""
        if self.target.database is not None and self._databases is None:
            from migration_harness.contract.repo_databases import RepoDatabases

            self._databases = RepoDatabases(self.target.database)
        return self._databases

    def close(self) -> None:
        """Drop what the case made outside its scratch directory (its databases)."""
        if self._databases is not None:
            self._databases.close()

    def _make_console_scripts(self) -> Path:
        """The target's console scripts, made for this case only (nothing goes on the
        user's own PATH): the way a tool installed with pip would find them."""
        from migration_harness.launchers import write_console_scripts

        directory = self.workdir / CONSOLE_SCRIPTS_DIR
        write_console_scripts(directory, self.target.console_scripts)
        return directory

    # --- templates -------------------------------------------------------------

    def values(self, repo: Path | None = None, **extra: object) -> dict[str, object]:
        """Placeholder values; a version given as an index fills in as its name."""
        values: dict[str, object] = dict(global_values(self.target))
        if repo is not None:
            values["repo"] = str(repo)
            if self.databases is not None:
                values.update(self.databases.of(repo).placeholders())
        for key, value in extra.items():
            if key in VERSION_PLACEHOLDERS and isinstance(value, int):
                value = self.target.version_name(value)
            values[key] = value
        return values

    def command(self, template: Command, repo: Path | None = None, **extra: object) -> list[str]:
        return fill_command(template, self.values(repo, **extra))

    def path(self, template: str, repo: Path, **extra: object) -> Path:
        return Path(fill(template, self.values(repo, **extra)))

    def relative_ignores(self, repo: Path) -> list[str]:
        """What no byte comparison looks at, relative to the repo (as snapshot_tree wants
        it): the target's ignore globs, and the declared lock file, which belongs to the
        lock, not to the data (a tool may create, write or remove it on any run). A
        single-file repo's files are named as they are beside it (``repo-journal``)."""
        base = repo if repo.is_dir() else repo.parent
        out = []
        for pattern in self.target.ignore:
            filled = fill(pattern, self.values(repo))
            prefix = str(base) + os.sep
            rel = filled[len(prefix) :] if filled.startswith(prefix) else filled
            out.append(rel.replace(os.sep, "/").replace("\\", "/"))
        lock = self.target.lock
        # A sqlite-style lock is a transaction on a database (often the repo itself): that
        # file is data, compared like the rest.
        if lock is not None and lock.path is not None and lock.style != "sqlite":
            path = self.path(lock.path, repo)
            if path.is_relative_to(base):
                out.append(path.relative_to(base).as_posix())
        return out

    # --- running ---------------------------------------------------------------

    def run(
        self,
        args: list[str],
        *,
        timeout: float | None = None,
        env: Mapping[str, str | None] | None = None,
        cwd: Path | None = None,
    ) -> RunResult:
        isolated = self.env if env is None else self.env.copy()
        for key, value in (env or {}).items():
            if value is None:
                isolated.unset(key)
            else:
                isolated.set(key, value)
        where = cwd or self.workdir
        bound = timeout or self.target.timeout_s
        try:
            result = run(args, env=isolated.vars, cwd=where, timeout=bound)
        except (OSError, ValueError) as exc:  # the command did not start at all
            raise cannot_start(args, isolated.vars, where, exc, self.transcript) from None
        self.transcript.append(result)
        self.expect_nothing_left_running(result)
        return result

    def expect_nothing_left_running(self, result: RunResult) -> None:
        """A command must not leave a process behind: fail naming each one (now killed)."""
        left = stop_left_running(result.left_running, LEFT_RUNNING_GRACE_S)
        if left:
            raise self.fail(
                f"`{format_command(result.args)}` exited (exit {result.returncode}) but left "
                f"{len(left)} process{'es' if len(left) != 1 else ''} running (killed):\n"
                + "\n".join(f"  {leftover.describe()}" for leftover in left)
            )

    def fail(self, message: str) -> ContractFailure:
        return ContractFailure(message, self.transcript)

    def expect_ok(self, result: RunResult, doing: str) -> RunResult:
        if result.timed_out:
            raise self.fail(f"{doing}: hung; killed after the {result.timeout:g}s bound")
        if result.returncode != 0:
            raise self.fail(f"{doing}: exit {result.returncode}, expected 0\n  {_said(result)}")
        return result

    def expect_refusal(self, result: RunResult, doing: str, message: str, regex: str) -> None:
        """Non-zero exit, a message matching ``regex``, and no stack trace."""
        if result.timed_out:
            raise self.fail(f"{doing}: hung; killed after the {result.timeout:g}s bound")
        if result.returncode == 0:
            raise self.fail(f"{doing}: exit 0, expected a refusal ({message})")
        if not re.search(regex, result.output):
            raise self.fail(
                f"{doing}: exit {result.returncode} but the output does not match {regex!r}"
                f" ({message})\n  output: {excerpt(result.output) or '(empty)'}"
            )
        if has_stack_trace(result.output):
            raise self.fail(f"{doing}: refused with a stack trace instead of a message")

    # --- the target's verbs ------------------------------------------------------

    def name(self, version: int) -> str:
        return self.target.version_name(version)

    def create(self, repo: Path, version: int, *, fresh: bool = False) -> None:
        """A repo at ``version`` at ``repo``: a copy of the one this run created once, if
        that is self-contained (see :mod:`.created`), else made by the tool's ``create``
        (always with ``fresh``)."""
        source = None
        if not fresh and self.created is not None and self.target.create_once:
            source = self.created.source(self, version)
        if source is None:
            self.run_create(repo, version)
            return
        self.scratch.make_dirs(repo.parent)
        self.scratch.copy_tree(source, repo, "copy the repo created once per run to")
        if self.databases is not None:
            self.databases.copy(source, repo)

    def run_create(self, repo: Path, version: int) -> None:
        self.scratch.make_dirs(repo.parent)
        if self.databases is not None:
            # The repo is the tool's directory beside its database: the harness makes it.
            self.databases.fresh(repo)
            self.scratch.make_dirs(repo)
        result = self.run(self.command(self.target.create, repo, version=version))
        self.expect_ok(result, f"setup: creating a repo at version {self.name(version)}")

    def migrate(
        self,
        repo: Path,
        to: int,
        frm: int | None = None,
        *,
        timeout: float | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> RunResult:
        args = self.command(self.target.migrate, repo, to=to, **{"from": _or(frm, to)})
        return self.run(args, timeout=timeout, env=env)

    def migrate_args(self, repo: Path, to: int, frm: int | None = None) -> list[str]:
        return self.command(self.target.migrate, repo, to=to, **{"from": _or(frm, to)})

    def revert(self, repo: Path, to: int, frm: int) -> RunResult:
        assert self.target.revert is not None
        return self.run(self.command(self.target.revert, repo, to=to, **{"from": frm}))

    def version_of(self, repo: Path, doing: str = "reading the version") -> int:
        if self.target.version is not None:
            result = self.expect_ok(self.run(self.command(self.target.version, repo)), doing)
            text = result.stdout.strip()
        else:
            assert self.target.version_file is not None
            path = self.path(self.target.version_file, repo)
            try:
                text = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise self.fail(f"{doing}: cannot read {path} ({exc})") from None
        if self.target.versions is not None:
            index = self.target.version_index(text)
            if index is None:
                raise self.fail(
                    f"{doing}: got {excerpt(text, 80)!r}, not a version name; expected"
                    f" {self.target.expected_names()}"
                )
            return index
        try:
            return int(text)
        except ValueError:
            raise self.fail(f"{doing}: expected an integer, got {excerpt(text, 80)!r}") from None

    def dump(self, repo: Path, doing: str = "dumping the repo") -> str:
        if self.target.dump is None:
            assert self.databases is not None  # a target without a dump has a database
            return self.databases.dump(repo)
        return self.expect_ok(self.run(self.command(self.target.dump, repo)), doing).stdout

    def snapshot(self, repo: Path, ignore: list[str]) -> TreeSnapshot:
        """The repo's files (see :func:`~migration_harness.files.snapshot_tree`) and, for a
        target with a database, the database's dump as one more entry: a comparison of
        bytes then also sees what the tool did to its database."""
        from migration_harness.files import FileState, snapshot_tree

        tree = snapshot_tree(repo, ignore=ignore)
        if self.databases is not None:
            data = self.databases.dump(repo).encode("utf-8")
            digest = hashlib.sha256(data).hexdigest()
            tree.files[SNAPSHOT_ENTRY] = FileState(digest, len(data), 0)
            tree._data[SNAPSHOT_ENTRY] = data
        return tree

    def stamp(self, repo: Path, version: int) -> None:
        if self.target.stamp is not None:
            result = self.run(self.command(self.target.stamp, repo, version=version))
            self.expect_ok(result, f"setup: stamping version {self.name(version)}")
            return
        assert self.target.version_file is not None
        path = self.path(self.target.version_file, repo)
        self.scratch.write_text(path, f"{self.name(version)}\n", "write the version file")

    def keep_pristine(self, repo: Path, pristine: Path) -> None:
        """Keep a copy of ``repo`` (and its database) at ``pristine``, for :meth:`copy_repo`."""
        self.scratch.copy_tree(repo, pristine, "keep a pristine copy of the repo at")
        if self.databases is not None:
            self.databases.copy(repo, pristine)

    def copy_repo(self, pristine: Path, repo: Path) -> None:
        """Put a fresh copy of ``pristine`` at ``repo`` (same path every time, so absolute
        paths a tool may keep inside its repo stay valid)."""
        self.scratch.copy_tree(pristine, repo, "replace the repo")
        if self.databases is not None:
            self.databases.copy(pristine, repo)

    # --- checks used by several contracts -------------------------------------------

    def expect_version(self, repo: Path, expected: int, when: str) -> None:
        actual = self.version_of(repo, f"{when}: reading the version")
        if actual != expected:
            raise self.fail(
                f"{when}: version is {self.name(actual)}, expected {self.name(expected)}"
            )

    def expect_dump(self, repo: Path, before: str, when: str, rule: str = "") -> None:
        """The dump is still ``before``; ``rule`` says why it must be (for the message)."""
        after = self.dump(repo, f"{when}: dumping the repo")
        if after != before:
            raise self.fail(
                f"{when}: the logical content changed ({rule}data lost or altered)\n"
                + dump_diff(before, after)
            )

    def expect_content(self, repo: Path, before: str, version: int, when: str) -> None:
        """The dump of a repo that reached ``version`` (by a migration, a revert, a race or
        a re-run after a crash) is what the target's ``content`` rule expects: ``before``
        (the dump at the start) when the content is the same at every version, else the
        dump of a repo created directly at ``version``. Every comparison of dumps across
        versions comes here."""
        if self.target.content == "same":
            self.expect_dump(repo, before, when, rule='content = "same": equal at every version; ')
            return
        expected = self.reference_dump(version)
        after = self.dump(repo, f"{when}: dumping the repo")
        if after != expected:
            raise self.fail(
                f"{when}: the logical content differs from a repo created at version"
                f' {self.name(version)} (content = "per-version"; data lost or altered)\n'
                + dump_diff(
                    expected, after, expected_is=f"of a repo created at {self.name(version)}"
                )
            )

    def reference_dump(self, version: int) -> str:
        """The dump of a repo created directly at ``version``: made once per run."""
        return REFERENCE_DUMPS.get(self.target, version, self._make_reference_dump)

    def _make_reference_dump(self, version: int) -> str:
        repo = self.workdir / "reference" / self.name(version) / "repo"
        self.create(repo, version)
        return self.dump(repo, f"dumping the repo created at {self.name(version)} (reference)")


VERSION_PLACEHOLDERS = ("from", "to", "version")


class _ReferenceDumps:
    """Dumps of repos created directly at a version, per target, kept for the whole run
    (a per-version comparison needs one at every version a case reaches)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # id(target) -> (the target, version -> dump); the target is held so that its id
        # cannot be reused by another target while the entry lives.
        self._dumps: dict[int, tuple[Target, dict[int, str]]] = {}
        # One lock per (target, version) being made: the crash contract's lanes (threads)
        # may ask for the same version at once, and its repo has one place.
        self._making: dict[tuple[int, int], threading.Lock] = {}

    def get(self, target: Target, version: int, make: Callable[[int], str]) -> str:
        with self._lock:
            entry = self._dumps.get(id(target))
            if entry is None or entry[0] is not target:
                entry = self._dumps[id(target)] = (target, {})
            if version in entry[1]:
                return entry[1][version]
            making = self._making.setdefault((id(target), version), threading.Lock())
        with making:  # not the global lock: a slow create does not hold up other versions
            with self._lock:
                if version in entry[1]:
                    return entry[1][version]
            dump = make(version)
            with self._lock:
                return entry[1].setdefault(version, dump)


REFERENCE_DUMPS = _ReferenceDumps()


class Transcript(list[RunResult]):
    """The commands a case ran, shown when it fails, and how long the tool's commands
    took in all (``seconds``): `check` reports it per case, so a run can tell the tool's
    time from its own. ``clear()`` trims only what a failure shows; the total stays.
    Commands released together (a race) count once, as long as the longest of them.
    """

    def __init__(self, counts_into: Transcript | None = None) -> None:
        super().__init__()
        self.seconds = 0.0
        self._counts_into = counts_into
        self._lock = threading.Lock()  # the crash contract's lanes count from threads

    def append(self, result: RunResult) -> None:
        super().append(result)
        self.add_seconds(result.duration)

    def add_together(self, results: list[RunResult]) -> None:
        """Commands that ran side by side: all shown, counted as the longest one."""
        super().extend(results)
        self.add_seconds(max((r.duration for r in results), default=0.0))

    def add_seconds(self, seconds: float) -> None:
        with self._lock:
            self.seconds += seconds
        if self._counts_into is not None:
            self._counts_into.add_seconds(seconds)


def isolated_env_for(target: Target) -> IsolatedEnv:
    """The process environment plus the target's own variables and PATH entries."""
    env = IsolatedEnv()
    values = global_values(target)
    for key, value in target.env.items():
        env.set(key, fill(value, values))
    env.prepend_path(*(fill(p, values) for p in target.path))
    return env


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _said(result: RunResult) -> str:
    """What a failed command printed: its stderr, else its stdout (some tools, sql-migrate
    among them, print their errors on stdout)."""
    for stream, text in (("stderr", result.stderr), ("stdout", result.stdout)):
        if text.strip():
            return f"{stream}: {excerpt(text)}"
    return "output: (empty)"
