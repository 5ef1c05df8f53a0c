"""Contract ids and mutants are chosen by one rule: the CLI and the pytest plugin accept
and refuse the same names, in the same words, naming their own flag."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from migration_harness.contract import CONTRACT_IDS
from migration_harness.contract._pytest import long_first, runs_long
from migration_harness.contract._registry import Case
from migration_harness.contract.selection import (
    SelectionError,
    select_contract_ids,
    select_mutant,
)
from migration_harness.reference.mutants import MUTANTS
from migration_harness.target import REFERENCE_SPEC
from tests.specfiles import check

pytest_plugins = ["pytester"]


def test_ids_come_back_in_report_order_whatever_the_order_given() -> None:
    assert select_contract_ids(["ahead", "forward"], "--contract") == ["forward", "ahead"]


def test_no_ids_given_means_every_id() -> None:
    assert select_contract_ids([], "--contract") == list(CONTRACT_IDS)


def test_a_known_mutant_is_selected() -> None:
    name = next(iter(MUTANTS))
    assert select_mutant(name, "--mutant") == name


@pytest.mark.parametrize(
    ("cli", "plugin", "says"),
    [
        (
            ["--contract", "fowrard"],
            ["--mh-contract", "reference", "--mh-contract-id", "fowrard"],
            "unknown contract id 'fowrard'; expected one of forward, idempotent,",
        ),
        (
            ["--mutant", "no-such"],
            ["--mh-contract", "reference", "--mh-mutant", "no-such"],
            "unknown mutant 'no-such'; expected one of ",
        ),
    ],
    ids=["contract-id", "mutant"],
)
def test_cli_and_plugin_refuse_the_same_name_in_the_same_words(
    tmp_path: Path, pytester: pytest.Pytester, cli: list[str], plugin: list[str], says: str
) -> None:
    by_cli = check(*cli, cwd=tmp_path)
    assert by_cli.returncode == 2, by_cli.stdout + by_cli.stderr
    (line,) = by_cli.stderr.strip().splitlines()
    assert f"{cli[0]}: {says}" in line
    by_plugin = pytester.runpytest_subprocess(*plugin)
    assert by_plugin.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{plugin[-2]}: {says}" in by_plugin.stderr.str()
    assert "Traceback" not in by_cli.stderr + by_plugin.stderr.str()


def test_the_error_names_the_flag_it_came_from() -> None:
    with pytest.raises(SelectionError, match=r"^--mh-mutant: unknown mutant 'x'"):
        select_mutant("x", "--mh-mutant")


def test_contract_flags_add_up(tmp_path: Path) -> None:
    result = check("--contract", "ahead", "--contract", "idempotent", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "idempotent[4-4]" in result.stdout and "ahead[5]" in result.stdout


def test_check_reads_a_pyproject_spec_when_there_is_no_toml_of_its_own(tmp_path: Path) -> None:
    text = REFERENCE_SPEC.read_text(encoding="utf-8")
    text = text.replace("[target]", "[tool.migration-harness.target]").replace(
        'name = "refrepo"', 'name = "from-pyproject"'
    )
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    result = check("--contract", "ahead", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    first = result.stdout.splitlines()[0]
    assert "target from-pyproject (" in first and first.endswith("pyproject.toml)"), first


def test_an_unreadable_pyproject_is_an_error_not_the_reference_tool(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool\n", encoding="utf-8")
    result = check("--contract", "ahead", cwd=tmp_path)
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "pyproject.toml" in line and "Traceback" not in result.stderr


# --- the order a parallel run starts its cases in ------------------------------------------


def _case(name: str) -> Case:
    contract, _, label = name.partition("[")
    return Case(label.removesuffix("]"), contract=contract)


def _cases(*names: str) -> list[SimpleNamespace]:
    """Stand-ins for contract items: long_first looks at nothing but their case."""
    return [SimpleNamespace(case=_case(name)) for name in names]


def _worksteal_shares(items: list[SimpleNamespace], workers: int) -> list[list[str]]:
    """The consecutive runs pytest-xdist's worksteal hands each worker first."""
    shares, start, remaining = [], 0, len(items)
    for index in range(workers):
        size = remaining // (workers - index)
        shares.append([item.case.name for item in items[start : start + size]])
        start, remaining = start + size, remaining - size
    return shares


CASES = (
    "forward[1-4]", "forward[2-4]", "lock-held[filelock]", "lock-held[filelock-past-wait]",
    "concurrent[1-4x4]", "crash[1-4]", "backups[1-2]", "backups[2-3]", "hostile-paths[a]",
    "hostile-paths[b]", "hostile-paths[c]", "tombstone[1-4]", "stale-lock[filelock-past-wait]",
)  # fmt: skip
LONG = [
    "crash[1-4]",
    "concurrent[1-4x4]",
    "lock-held[filelock-past-wait]",
    "stale-lock[filelock-past-wait]",
    "backups[1-2]",
    "backups[2-3]",
]


def test_one_worker_runs_the_long_cases_first_longest_kind_first() -> None:
    ordered = [item.case.name for item in long_first(_cases(*CASES))]  # type: ignore[arg-type]
    assert ordered == LONG + [name for name in CASES if name not in LONG]


@pytest.mark.parametrize("workers", [2, 3, 4, 5])
def test_each_worker_starts_on_a_long_case_of_its_own(workers: int) -> None:
    items = long_first(_cases(*CASES), workers)  # type: ignore[arg-type]
    assert sorted(item.case.name for item in items) == sorted(CASES)  # nothing lost
    shares = _worksteal_shares(items, workers)  # type: ignore[arg-type]
    firsts = [share[0] for share in shares]
    assert firsts[: len(LONG)] == LONG[:workers]
    for share in shares:  # each share: its long cases, longest kind first, then the rest
        longs = [name for name in share if runs_long(_case(name))]
        assert share[: len(longs)] == sorted(longs, key=LONG.index), share
