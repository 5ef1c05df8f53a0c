"""Run the migration safety contract inside any pytest session.

``pytest --mh-contract migration-harness.toml`` (or ``mh_contract = ...`` in the
ini file) adds the contract's items to the session, next to the user's own tests,
the way pytest-alembic injects its built-in tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from migration_harness.plugin.options import value

REFERENCE = "reference"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "contract(id): an item of the migration safety contract")


@pytest.hookimpl(trylast=True)  # after `check`'s reporter, which shows progress its own way
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if not (value(config, "mh_contract") and value(config, "mh_progress")):
        return
    from migration_harness.contract._pytest import PROGRESS
    from migration_harness.contract.progress import ProgressLines, uncaptured

    if PROGRESS not in config.stash:
        config.stash[PROGRESS] = uncaptured(config, ProgressLines(sys.stderr))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    spec = value(config, "mh_contract")
    if not spec:
        return
    from migration_harness.contract import Options
    from migration_harness.contract._pytest import long_first, make_collector
    from migration_harness.contract.selection import (
        SelectionError,
        parse_shard,
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
    mutant = value(config, "mh_mutant")
    try:
        if mutant:
            target = target.with_env(REFREPO_MUTANT=select_mutant(mutant, "--mh-mutant"))
        ids = select_contract_ids(value(config, "mh_contract_id") or (), "--mh-contract-id")
        shard = (
            parse_shard(value(config, "mh_shard"), "--mh-shard")
            if value(config, "mh_shard")
            else None
        )
    except SelectionError as exc:
        raise pytest.UsageError(str(exc)) from None
    jobs = value(config, "mh_crash_jobs")
    if jobs is not None and not (str(jobs).isdigit() and int(jobs) >= 1):
        raise pytest.UsageError(f"--mh-crash-jobs {jobs}: expected a whole number of at least 1")
    options = Options(
        crash_backend=value(config, "mh_crash_backend"),
        crash_jobs=int(jobs) if jobs is not None else None,
    )
    keep = bool(value(config, "mh_keep_scratch"))
    root = value(config, "mh_scratch_root")
    collector = make_collector(
        session,
        path,
        target,
        ids,
        options,
        keep_scratch=keep,
        scratch_root=Path(str(root)) if root else None,
    )
    cases = list(collector.collect())
    if shard is not None:
        kept = shard.pick(cases)
        config.hook.pytest_deselected(items=[case for case in cases if case not in kept])
        cases = kept
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:  # a pytest-xdist worker: reports keep their order
        cases = long_first(cases, int(workerinput.get("workercount", 1)))
    items.extend(cases)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop the database servers this process started for its cases, politely, before
    the session's sweep of what is still running (not those a `check` announced)."""
    import sys

    shared = sys.modules.get("migration_harness.databases._shared")
    if shared is not None:
        shared.SERVERS.stop_all()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove (or, with --mh-keep-scratch, name) the scratch of cases an interrupt cut short."""
    import shutil
    import sys

    if "migration_harness.contract._pytest" not in sys.modules:
        # No contract item was collected, so none left a scratch; importing the
        # contract here would cost every session that never uses it.
        return
    from migration_harness.contract._pytest import LIVE_SCRATCH

    left = config.stash.get(LIVE_SCRATCH, {})
    keep = bool(value(config, "mh_keep_scratch"))
    for case, path in sorted(left.items()):
        if keep:
            print(f"migration-harness: scratch directory of {case} kept: {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)
    left.clear()
