"""Contract ids and mutants are chosen by one rule: the CLI and the pytest plugin accept
and refuse the same names, in the same words, naming their own flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from migration_harness.contract import CONTRACT_IDS
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
