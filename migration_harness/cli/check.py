"""``migration-harness check``: run the migration safety contract and report."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migration_harness.cli import UsageError
from migration_harness.names import plain_name
from migration_harness.target import (
    REFERENCE_SPEC,
    SPEC_FILENAME,
    SpecError,
    Target,
    check_console_scripts_importable,
)

if TYPE_CHECKING:
    import psutil

    from migration_harness.contract.report import Reporter

# Last-resort bound per contract case; every command inside already has its own.
CASE_TIMEOUT_S = 1800

# pytest's exit status for a usage error (ExitCode.USAGE_ERROR).
PYTEST_USAGE_ERROR = 4
PYTEST_INTERNAL_ERROR = 3

# How long the processes of an interrupted run get to die once killed.
LEFTOVER_WAIT_S = 1.5
GUARDIAN_MODULE = "migration_harness.proc._guardian"

# pytest's cache (for -- --lf, --ff, --sw), kept apart from the user's own pytest cache.
CACHE_DIR = Path(".pytest_cache") / "migration-harness"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="run the migration safety contract against a target (default: the reference tool)",
        description=(
            "Run the migration safety contract. Without --config it uses ./"
            f"{SPEC_FILENAME}, else a ./pyproject.toml with [tool.migration-harness.target], "
            "else the built-in reference tool. The last line "
            "is the verdict: PASSED (exit 0), FAILED (the tool broke a promise, exit 1), "
            "ERROR (the run could not be done, exit 2) or INTERRUPTED (exit 130 on SIGINT, "
            "143 on SIGTERM). Options after -- go to pytest."
        ),
    )
    parser.add_argument("--config", metavar="FILE", help="the target spec (toml)")
    parser.add_argument("-k", metavar="EXPR", help="only cases matching this pytest -k expression")
    parser.add_argument(
        "--contract",
        metavar="ID",
        nargs="+",
        action="extend",
        default=[],
        help="only these contract ids (repeatable: --contract a b --contract c)",
    )
    parser.add_argument(
        "--shard",
        metavar="K/N",
        help="run shard K of N: every N-th case in report order, from the K-th (for N CI jobs;"
        " `summary` merges their reports)",
    )
    parser.add_argument("--junitxml", metavar="FILE", help="also write a JUnit XML report")
    parser.add_argument("--report-json", metavar="FILE", help="also write a JSON report")
    parser.add_argument("--mutant", metavar="NAME", help="run a mutant of the reference tool")
    parser.add_argument(
        "--list-mutants", action="store_true", help="list the reference tool's mutants"
    )
    parser.add_argument(
        "--crash-backend",
        choices=("auto", "strace", "hook", "sweep"),
        help="force a crash-point backend",
    )
    parser.add_argument(
        "--keep-scratch",
        action="store_true",
        help="on an interrupt, keep (and name) the running case's scratch directory",
    )
    jobs = parser.add_mutually_exclusive_group()
    jobs.add_argument(
        "-j",
        "--jobs",
        metavar="N",
        default="auto",
        help="cases run side by side in N worker processes (default: auto, two per CPU,"
        " no more than there are cases)",
    )
    jobs.add_argument(
        "--serial", action="store_true", help="run one case at a time in this process (-j 1)"
    )
    parser.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first failure")
    parser.add_argument(
        "pytest_args",
        nargs="*",
        metavar="-- PYTEST_ARGS",
        help="passed on to pytest unchanged (-v, -rA, -x, --lf, -n 2, --full-trace)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from migration_harness.reference.mutants import MUTANTS

    if args.list_mutants:
        width = max(len(name) for name in MUTANTS)
        for name, summary in MUTANTS.items():
            print(f"{name:<{width}}  {summary}")
        return 0
    spec_path, target = load_spec(args.config)
    _check_selection(args, target, spec_path)
    args.workers = _workers(args, target)
    _check_output_files(args)
    _check_tmpdir()
    return _run_pytest(args, spec_path, target)


def load_spec(config: str | None) -> tuple[Path, Target]:
    """The spec a command uses: ``--config``, else ./migration-harness.toml, else the
    built-in reference tool's; any problem with it is a :class:`UsageError`."""
    from migration_harness.spec import find_spec, load_reference_target, load_target

    try:
        found = None if config is not None else find_spec(Path.cwd())
        if config is not None:
            path, target = Path(config).resolve(), load_target(Path(config), display=config)
        elif found is not None:
            path, target = found, load_target(found, display=found.name)
        else:
            path, target = REFERENCE_SPEC, load_reference_target()
        check_console_scripts_importable(target)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    return path, target


@contextlib.contextmanager
def _database_server(target: Target) -> Iterator[None]:
    """The run's database server (a target with a [target.database]), started before the
    cases and shared by them and by every worker, stopped after them."""
    if target.database is None:
        yield
        return
    import json
    import time

    from migration_harness.databases import (
        ANNOUNCE_ENV,
        DatabaseError,
        DatabaseUnavailable,
        announced,
    )

    engine, started = target.database.engine, time.monotonic()
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(announced([(engine, target.database.bindir)], os.environ))
        except (DatabaseUnavailable, DatabaseError) as exc:
            raise UsageError(f"{target.source}: target.database: {exc}") from None
        took = time.monotonic() - started
        servers: dict[str, dict[str, object]] = json.loads(os.environ[ANNOUNCE_ENV])
        roots = ", ".join(str(server["root"]) for server in servers.values())
        print(
            f"migration-harness check: {engine} server started in {took:.1f} s ({roots})",
            flush=True,
        )
        yield


def _check_selection(args: argparse.Namespace, target: Target, spec_path: Path) -> None:
    from migration_harness.contract import REGISTRY
    from migration_harness.contract.selection import (
        SelectionError,
        parse_shard,
        select_contract_ids,
        select_mutant,
    )

    try:
        if args.mutant is not None:
            if spec_path != REFERENCE_SPEC:
                raise UsageError(
                    "--mutant applies to the built-in reference tool only; drop --config"
                )
            select_mutant(args.mutant, "--mutant")
        select_contract_ids(args.contract, "--contract")
        if args.shard is not None:
            args.shard = str(parse_shard(args.shard, "--shard"))
    except SelectionError as exc:
        raise UsageError(str(exc)) from None
    for cid in args.contract:
        reasons = {case.skip for case in REGISTRY[cid].cases(target)}
        if None not in reasons:
            raise UsageError(f"--contract {cid}: cannot run: {reasons.pop()}")


# Workers per CPU with -j auto: a contract case spends much of its time waiting (a lock
# held past the tool's wait, racers slowed at their calls, a daemon's start), so twice as
# many workers as CPUs keep the CPUs busy. Measured on 2 Linux CPUs against the reference
# tool: 38 s with 2 workers, 27-29 s with 4, 30 s with 6, 34 s with 8. On Windows a
# process start is itself the costly part (and under Wine it fails under load): one.
WORKERS_PER_CPU = 1 if sys.platform == "win32" else 2


def _workers(args: argparse.Namespace, target: Target) -> int:
    """How many pytest-xdist workers run the cases; 0: none, the cases run in this process."""
    if args.serial or _speaks_to_xdist(args.pytest_args) or _needs_one_process(args):
        return 0
    if args.jobs != "auto":
        try:
            wanted = int(args.jobs)
        except ValueError:
            wanted = 0
        if wanted < 1:
            raise UsageError(f"--jobs {args.jobs}: expected a whole number of at least 1 or auto")
        if wanted > 1 and importlib.util.find_spec("xdist") is None:
            raise UsageError(
                f"--jobs {wanted}: needs pytest-xdist (pip install pytest-xdist); "
                "or run with --serial"
            )
        workers = min(wanted, _selected_cases(args, target))
        return workers if workers > 1 else 0
    if importlib.util.find_spec("xdist") is None:
        return 0
    workers = min(WORKERS_PER_CPU * (os.cpu_count() or 1), _selected_cases(args, target))
    return workers if workers > 1 else 0


def _speaks_to_xdist(pytest_args: list[str]) -> bool:
    """Options after -- that choose the workers themselves (-n, --dist, -p no:xdist)."""
    for n, arg in enumerate(pytest_args):
        if arg.startswith(("-n", "--numprocesses", "--dist", "--tx", "-pno:xdist")):
            return True
        if arg == "-p" and n + 1 < len(pytest_args) and pytest_args[n + 1] == "no:xdist":
            return True
    return False


#: pytest options that work in one process only: they pick cases from the cache before
#: the workers exist (and say so in the header), step through them, or stop in a debugger.
ONE_PROCESS_OPTIONS = (
    "--lf", "--last-failed", "--ff", "--failed-first", "--nf", "--new-first",
    "--sw", "--stepwise", "--pdb", "--trace", "-s", "--capture=no",
)  # fmt: skip


def _needs_one_process(args: argparse.Namespace) -> bool:
    if any(arg in ONE_PROCESS_OPTIONS for arg in args.pytest_args):
        return True
    # A -k expression pytest cannot parse: one process reports it as the usage error it
    # is (workers would die on it and leave pytest with none).
    return bool(args.k) and not _parses_as_k(args.k)


def _parses_as_k(expression: str) -> bool:
    try:
        from _pytest.mark.expression import Expression
    except ImportError:  # pragma: no cover - a pytest that moved it: stay in one process
        return False
    try:
        Expression.compile(expression)
    except Exception:  # ParseError before pytest 9, SyntaxError since
        return False
    return True


def _selected_cases(args: argparse.Namespace, target: Target) -> int:
    """The cases --contract and --shard leave (-k is applied later, by pytest)."""
    from migration_harness.contract import CONTRACT_IDS, REGISTRY

    ids = args.contract or CONTRACT_IDS
    count = sum(len(REGISTRY[cid].cases(target)) for cid in ids)
    if args.shard:
        index, total = (int(part) for part in args.shard.split("/"))
        count = len(range(index - 1, count, total))
    return count


def _check_output_files(args: argparse.Namespace) -> None:
    """A report that cannot be written must stop the run before it starts, not after it."""
    for flag, value in (("--junitxml", args.junitxml), ("--report-json", args.report_json)):
        if value is None:
            continue
        path = Path(value)
        existed = path.exists()
        try:
            with path.open("ab"):
                pass
        except OSError as exc:
            raise UsageError(f"{flag} {value}: cannot write there ({exc.strerror})") from None
        if not existed:
            path.unlink(missing_ok=True)


def _check_tmpdir() -> None:
    """Every case works in a scratch directory under TMPDIR (or the system's temp dir)."""
    chosen = os.environ.get("TMPDIR")
    try:
        if chosen:
            with tempfile.TemporaryDirectory(dir=chosen):
                pass
        else:
            tempfile.gettempdir()
    except OSError as exc:
        where = f"TMPDIR={chosen}" if chosen else "the temporary directory"
        raise UsageError(
            f"{where}: cannot create scratch directories there ({exc.strerror or exc}); "
            "point TMPDIR at a writable directory"
        ) from None


def _run_pytest(args: argparse.Namespace, spec_path: Path, target: Target) -> int:
    import pytest

    from migration_harness.contract import CONTRACT_IDS
    from migration_harness.contract.report import Reporter

    reporter = Reporter(out=sys.stdout, target_name=target.name, mutant=args.mutant)
    reporter.selection = args.k
    where = "built-in reference tool" if spec_path == REFERENCE_SPEC else str(spec_path)
    shard = f", shard {args.shard}" if args.shard else ""
    workers = f", {args.workers} workers" if args.workers else ""
    print(f"migration-harness check: target {target.name} ({where}){shard}{workers}", flush=True)
    scratch_root = Path(tempfile.mkdtemp(prefix="mh-run-"))
    with (
        _database_server(target),
        tempfile.TemporaryDirectory(prefix="mh-check-") as empty,
        _signals_to(reporter),
    ):
        argv = _pytest_argv(args, spec_path, Path(empty), scratch_root)
        with _captured_stderr() as stderr:
            code = int(pytest.main(argv, plugins=[reporter]))
        _stop_leftovers(reporter, keep=args.keep_scratch)
        _tidy_scratch_root(scratch_root, reporter, keep=args.keep_scratch)
    printed = stderr.getvalue()
    if code == PYTEST_USAGE_ERROR:
        reporter.problems.append(f"pytest usage error: {_usage_message(printed)}")
    elif code == PYTEST_INTERNAL_ERROR and "--full-trace" not in args.pytest_args:
        sys.stderr.write(harness_frames_of(printed))
    else:
        sys.stderr.write(printed)
    _print_failures(reporter)
    print(file=sys.stdout)
    print(reporter.table(CONTRACT_IDS), file=sys.stdout)
    print(file=sys.stdout)
    if args.report_json:
        try:
            reporter.write_json(Path(args.report_json))
        except OSError as exc:  # checked before the run, so something changed since
            reporter.problems.append(f"--report-json {args.report_json}: {exc.strerror or exc}")
    print(reporter.verdict(), flush=True)
    return reporter.exit_code()


def _pytest_argv(
    args: argparse.Namespace, spec_path: Path, empty: Path, scratch_root: Path
) -> list[str]:
    # An empty rootdir with its own ini keeps the user's conftest, ini options and
    # test files out of the contract run.
    ini = empty / "pytest.ini"
    ini.write_text("[pytest]\n", encoding="utf-8")
    argv = [
        str(empty),
        "-c",
        str(ini),
        "--rootdir",
        str(empty),
        "-o",
        f"cache_dir={Path.cwd() / CACHE_DIR}",
        "-p",
        "no:randomly",
        # check imports this package before pytest starts; nothing to rewrite in it.
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        f"--timeout={CASE_TIMEOUT_S}",
        "--mh-contract",
        str(spec_path) if spec_path != REFERENCE_SPEC else "reference",
        "--mh-scratch-root",
        str(scratch_root),
    ]
    if args.workers:
        # worksteal: a worker that runs out of cases takes some of another's queue, so
        # the long cases (started first) do not leave a worker idle at the end.
        argv += ["-n", str(args.workers), "--dist", "worksteal", "--mh-progress"]
    if not args.pytest_args:
        # check prints its own progress, table and verdict; pytest's terminal output
        # joins them only when the user speaks to pytest (options after --).
        argv += ["-p", "no:terminal"]
    argv += [f"--mh-contract-id={cid}" for cid in args.contract]
    if args.mutant:
        argv += ["--mh-mutant", args.mutant]
    if args.crash_backend:
        argv += ["--mh-crash-backend", args.crash_backend]
    if args.serial or args.jobs != "auto":
        # --serial and -j N bound the crash points run side by side too.
        argv += ["--mh-crash-jobs", "1" if args.serial else str(args.jobs)]
    if args.shard:
        argv += ["--mh-shard", args.shard]
    if args.keep_scratch:
        argv.append("--mh-keep-scratch")
    if args.k:
        argv += ["-k", args.k]
    if args.exitfirst:
        argv.append("-x")
    if args.junitxml:
        argv += ["--junitxml", str(Path(args.junitxml).resolve())]
    passed_on: list[str] = args.pytest_args
    return argv + passed_on


@contextlib.contextmanager
def _signals_to(reporter: Reporter) -> Iterator[None]:
    """SIGINT and SIGTERM unwind the run as an interrupt the reporter can name; a second
    signal while the run is being stopped is ignored so that the reports still get written."""

    def handler(signum: int, frame: object) -> None:
        if reporter.signal is not None:
            return
        reporter.interrupt(signal.Signals(signum).name)
        raise KeyboardInterrupt

    wanted = [signal.SIGINT, signal.SIGTERM]
    previous = {sig: signal.signal(sig, handler) for sig in wanted}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def _captured_stderr() -> Iterator[io.StringIO]:
    """pytest prints a usage error as several lines on stderr; check turns it into one.
    Anything else pytest writes there is replayed after the run."""
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer):
        yield buffer


def harness_frames_of(text: str) -> str:
    """pytest's INTERNALERROR traceback cut to the harness's own frames and the exception."""
    lines = [line.removeprefix("INTERNALERROR> ").rstrip() for line in text.splitlines()]
    lines = [line for line in lines if line.strip()]
    if not lines:
        return ""
    kept: list[str] = []
    for n, line in enumerate(lines):
        if line.lstrip().startswith("File ") and "migration_harness" in line:
            kept += lines[n : n + 2]
    shown = ["pytest internal error; in migration-harness (innermost last):", *kept[-20:]]
    shown += [lines[-1], "the full traceback: check -- --full-trace"]
    return "\n".join(shown) + "\n"


def _usage_message(text: str) -> str:
    """The line that says what is wrong in pytest's usage error output."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if ": error: " in line:
            return line.split(": error: ", 1)[1]
    for line in lines:
        if line.startswith("ERROR: ") and not line.startswith("ERROR: usage:"):
            return line.removeprefix("ERROR: ")
    return lines[0] if lines else "(pytest printed nothing)"


def _stop_leftovers(reporter: Reporter, *, keep: bool) -> None:
    """After an interrupt: end every process the run started, then drop (or name) the
    scratch directories of the cases that were cut short."""
    if reporter.outcome() != "interrupted":
        return
    import psutil

    from migration_harness.proc._track import sweep_all

    sweep_all()
    children = [p for p in psutil.Process().children(recursive=True) if not _is_guardian(p)]
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(children, timeout=LEFTOVER_WAIT_S)
    if not keep:  # else the plugin named them
        for path in reporter.scratch.values():
            shutil.rmtree(path, ignore_errors=True)


def _tidy_scratch_root(root: Path, reporter: Reporter, *, keep: bool) -> None:
    """The run's scratch root holds what failed cases kept for inspection; after an
    interrupt also what the cases cut short left (a parallel run's workers are killed,
    not unwound). Those are removed, or named with --keep-scratch; an empty root goes.
    The repos created once for the run's cases always go: nothing failed there."""
    from migration_harness.contract.created import CREATED_DIR

    shutil.rmtree(root / CREATED_DIR, ignore_errors=True)
    if reporter.outcome() == "interrupted":
        kept = {r.case for r in reporter.results if r.outcome in ("failed", "error")}
        named = set(reporter.scratch.values())  # the plugin removed or named these itself
        for path in sorted(root.iterdir()) if root.is_dir() else []:
            if path in named or any(path.name.startswith(f"mh-{plain_name(c)}-") for c in kept):
                continue
            if keep:
                print(f"migration-harness: scratch directory kept: {path}", file=sys.stderr)
            else:
                shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(OSError):
        root.rmdir()  # only if empty: a failed case's scratch stays for the user


def _is_guardian(proc: psutil.Process) -> bool:
    """The process guardian cleans up at exit and removes its registry: leave it be."""
    import psutil

    try:
        return GUARDIAN_MODULE in proc.cmdline()
    except psutil.Error:
        return False


def _print_failures(reporter: Reporter) -> None:
    for result in [*reporter.failed, *reporter.of("error")]:
        print(f"\n{'=' * 20} {result.case} {'=' * 20}", file=sys.stdout)
        print(result.details, file=sys.stdout)
