"""``migration-harness check``: run the migration safety contract and report."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migration_harness.cli import UsageError
from migration_harness.target import REFERENCE_SPEC, SPEC_FILENAME, SpecError, Target

if TYPE_CHECKING:
    from migration_harness.contract.report import Reporter

# Last-resort bound per contract case; every command inside already has its own.
CASE_TIMEOUT_S = 1800


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="run the migration safety contract against a target (default: the reference tool)",
        description=(
            "Run the migration safety contract. Without --config it uses ./"
            f"{SPEC_FILENAME} if present, else the built-in reference tool."
        ),
    )
    parser.add_argument("--config", metavar="FILE", help="the target spec (toml)")
    parser.add_argument("-k", metavar="EXPR", help="only cases matching this pytest -k expression")
    parser.add_argument(
        "--contract", metavar="ID", nargs="+", default=[], help="only these contract ids"
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
    parser.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first failure")
    parser.add_argument(
        "pytest_args", nargs="*", metavar="-- PYTEST_ARGS", help="passed on to pytest"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from migration_harness.reference.mutants import MUTANTS

    if args.list_mutants:
        width = max(len(name) for name in MUTANTS)
        for name, summary in MUTANTS.items():
            print(f"{name:<{width}}  {summary}")
        return 0
    spec_path, target = _load(args.config)
    _check_selection(args, target, spec_path, MUTANTS)
    return _run_pytest(args, spec_path, target)


def _load(config: str | None) -> tuple[Path, Target]:
    from migration_harness.spec import load_reference_target, load_target

    try:
        if config is not None:
            path = Path(config)
            return path.resolve(), load_target(path, display=config)
        local = Path.cwd() / SPEC_FILENAME
        if local.is_file():
            return local, load_target(local, display=SPEC_FILENAME)
        return REFERENCE_SPEC, load_reference_target()
    except SpecError as exc:
        raise UsageError(str(exc)) from None


def _check_selection(
    args: argparse.Namespace, target: Target, spec_path: Path, mutants: dict[str, str]
) -> None:
    from migration_harness.contract import CONTRACT_IDS, REGISTRY

    if args.mutant is not None:
        if spec_path != REFERENCE_SPEC:
            raise UsageError("--mutant applies to the built-in reference tool only; drop --config")
        if args.mutant not in mutants:
            raise UsageError(
                f"--mutant: unknown mutant {args.mutant!r}; see --list-mutants "
                f"({', '.join(mutants)})"
            )
    for cid in args.contract:
        if cid not in CONTRACT_IDS:
            raise UsageError(
                f"--contract: unknown id {cid!r}; expected one of {', '.join(CONTRACT_IDS)}"
            )
        reasons = {case.skip for case in REGISTRY[cid].cases(target)}
        if None not in reasons:
            raise UsageError(f"--contract {cid}: cannot run: {reasons.pop()}")


def _run_pytest(args: argparse.Namespace, spec_path: Path, target: Target) -> int:
    import pytest

    from migration_harness.contract import CONTRACT_IDS
    from migration_harness.contract.report import Reporter

    reporter = Reporter(out=sys.stdout, target_name=target.name, mutant=args.mutant)
    where = "built-in reference tool" if spec_path == REFERENCE_SPEC else str(spec_path)
    print(f"migration-harness check: target {target.name} ({where})", flush=True)
    with tempfile.TemporaryDirectory(prefix="mh-check-") as empty:
        # An empty rootdir with its own ini keeps the user's conftest, ini options and
        # test files out of the contract run.
        ini = Path(empty) / "pytest.ini"
        ini.write_text("[pytest]\n", encoding="utf-8")
        argv = [
            empty,
            "-c",
            str(ini),
            "--rootdir",
            empty,
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "-p",
            "no:terminal",
            f"--timeout={CASE_TIMEOUT_S}",
            "--mh-contract",
            str(spec_path) if spec_path != REFERENCE_SPEC else "reference",
        ]
        argv += [f"--mh-contract-id={cid}" for cid in args.contract]
        if args.mutant:
            argv += ["--mh-mutant", args.mutant]
        if args.crash_backend:
            argv += ["--mh-crash-backend", args.crash_backend]
        if args.k:
            argv += ["-k", args.k]
        if args.exitfirst:
            argv.append("-x")
        if args.junitxml:
            argv += ["--junitxml", str(Path(args.junitxml).resolve())]
        argv += args.pytest_args
        code = pytest.main(argv, plugins=[reporter])
    _print_failures(reporter)
    print(file=sys.stdout)
    print(reporter.table(CONTRACT_IDS), file=sys.stdout)
    print(file=sys.stdout)
    if args.report_json:
        reporter.write_json(Path(args.report_json))
    for error in reporter.errors:
        print(error, file=sys.stderr)
    print(reporter.verdict(), flush=True)
    if reporter.failed or reporter.errors:
        return 1
    if int(code) not in (0, 5) or not reporter.results:
        print(f"check: pytest exited with status {int(code)}", file=sys.stderr)
        return 1 if reporter.results else 2
    return 0


def _print_failures(reporter: Reporter) -> None:
    for result in reporter.failed:
        print(f"\n{'=' * 20} {result.case} {'=' * 20}", file=sys.stdout)
        print(result.details, file=sys.stdout)
