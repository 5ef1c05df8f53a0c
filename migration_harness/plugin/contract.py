"""Run the migration safety contract inside any pytest session.

``pytest --mh-contract migration-harness.toml`` (or ``mh_contract = ...`` in the
ini file) adds the contract's items to the session, next to the user's own tests,
the way pytest-alembic injects its built-in tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REFERENCE = "reference"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("migration-harness")
    group.addoption(
        "--mh-contract",
        metavar="SPEC",
        default=None,
        help="add the migration safety contract for the target in SPEC "
        "(migration-harness.toml or pyproject.toml; 'reference' for the built-in tool)",
    )
    group.addoption(
        "--mh-contract-id",
        metavar="ID",
        action="append",
        default=[],
        help="run only this contract id (repeatable)",
    )
    group.addoption(
        "--mh-mutant",
        metavar="NAME",
        default=None,
        help="run the built-in reference tool as one of its mutants",
    )
    group.addoption(
        "--mh-crash-backend",
        metavar="NAME",
        default=None,
        help="force a crash-point backend: strace, hook or sweep",
    )
    group.addoption(
        "--mh-keep-scratch",
        action="store_true",
        default=False,
        help="keep (and name) the scratch directory of a case cut short by an interrupt",
    )
    parser.addini("mh_contract", "spec file of the target whose contract joins the session")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "contract(id): an item of the migration safety contract")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    spec = config.getoption("--mh-contract") or config.getini("mh_contract")
    if not spec:
        return
    from migration_harness.contract import Options
    from migration_harness.contract._pytest import make_collector
    from migration_harness.contract.selection import (
        SelectionError,
        select_contract_ids,
        select_mutant,
    )
    from migration_harness.spec import load_reference_target, load_target
    from migration_harness.target import (
        REFERENCE_SPEC,
        SpecError,
        check_console_scripts_importable,
    )

    try:
        if spec == REFERENCE:
            path, target = REFERENCE_SPEC, load_reference_target()
        else:
            path = Path(str(spec))
            if not path.is_absolute():
                path = config.rootpath / path
            target = load_target(path)
        check_console_scripts_importable(target)
    except SpecError as exc:
        raise pytest.UsageError(str(exc)) from None
    mutant = config.getoption("--mh-mutant")
    try:
        if mutant:
            target = target.with_env(REFREPO_MUTANT=select_mutant(mutant, "--mh-mutant"))
        ids = select_contract_ids(config.getoption("--mh-contract-id") or (), "--mh-contract-id")
    except SelectionError as exc:
        raise pytest.UsageError(str(exc)) from None
    options = Options(crash_backend=config.getoption("--mh-crash-backend"))
    keep = bool(config.getoption("--mh-keep-scratch"))
    collector = make_collector(session, path, target, ids, options, keep_scratch=keep)
    items.extend(collector.collect())


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove (or, with --mh-keep-scratch, name) the scratch of cases an interrupt cut short."""
    import shutil
    import sys

    from migration_harness.contract._pytest import LIVE_SCRATCH

    left = config.stash.get(LIVE_SCRATCH, {})
    keep = bool(config.getoption("--mh-keep-scratch", False))
    for case, path in sorted(left.items()):
        if keep:
            print(f"migration-harness: scratch directory of {case} kept: {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)
    left.clear()
