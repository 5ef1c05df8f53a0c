"""The plugin's options: one group, an ini twin for each flag, one precedence rule."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from migration_harness.plugin.options import GROUP, OPTIONS

# Runs in the inner session: reads every option once the plugin is configured, then stops
# (an mh_contract value would otherwise make the session load that spec).
DUMP_CONFTEST = """
import json
import pytest
from migration_harness.plugin.options import OPTIONS, value

@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    values = {option.name: value(config, option.name) for option in OPTIONS}
    config.rootpath.joinpath("values.json").write_text(json.dumps(values))
    pytest.exit("options read", returncode=0)
"""

INI_VALUES: dict[str, Any] = {
    "mh_contract": "from-ini.toml",
    "mh_contract_id": ["ini-id-1", "ini-id-2"],
    "mh_mutant": "ini-mutant",
    "mh_crash_backend": "ini-backend",
    "mh_crash_jobs": "3",
    "mh_shard": "1/2",
    "mh_scratch_root": "ini-scratch",
    "mh_progress": True,
    "mh_keep_scratch": True,
    "mh_env_guard": True,
    "mh_env_guard_ignore": ["INI_VAR"],
    "mh_no_orphans": True,
}

CLI_VALUES: dict[str, Any] = {
    "mh_contract": "from-cli.toml",
    "mh_contract_id": ["cli-id"],
    "mh_mutant": "cli-mutant",
    "mh_crash_backend": "cli-backend",
    "mh_crash_jobs": "2",
    "mh_shard": "2/2",
    "mh_scratch_root": "cli-scratch",
    "mh_progress": True,
    "mh_keep_scratch": True,
    "mh_env_guard": True,
    "mh_env_guard_ignore": ["CLI_VAR_1", "CLI_VAR_2"],
    "mh_no_orphans": True,
}


def _ini_text(values: dict[str, Any]) -> str:
    lines = ["[pytest]"]
    for name, written in values.items():
        if isinstance(written, list):
            lines.append(f"{name} =\n" + "".join(f"    {item}\n" for item in written).rstrip())
        else:
            lines.append(f"{name} = {str(written).lower() if written is True else written}")
    return "\n".join(lines) + "\n"


def _flags(values: dict[str, Any]) -> list[str]:
    flags = []
    for option in OPTIONS:
        given = values[option.name]
        if given is True:
            flags.append(option.flag)
        else:
            flags += [
                f"{option.flag}={item}" for item in (given if isinstance(given, list) else [given])
            ]
    return flags


def _read_options(pytester: pytest.Pytester, *flags: str) -> dict[str, Any]:
    pytester.makeconftest(DUMP_CONFTEST)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider", *flags)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    values: dict[str, Any] = json.loads((pytester.path / "values.json").read_text())
    return values


def test_default_when_neither_flag_nor_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    defaults = {option.name: option.default for option in OPTIONS}
    assert _read_options(pytester) == json.loads(json.dumps(defaults))  # tuples read as lists


def test_ini_beats_default(pytester: pytest.Pytester) -> None:
    pytester.makeini(_ini_text(INI_VALUES))
    assert _read_options(pytester) == INI_VALUES


def test_command_line_beats_ini(pytester: pytest.Pytester) -> None:
    # Bool options off in the ini file, on from the command line.
    written = {name: False if v is True else v for name, v in INI_VALUES.items()}
    pytester.makeini(_ini_text(written))
    assert _read_options(pytester, *_flags(CLI_VALUES)) == CLI_VALUES


def test_ini_overridden_with_dash_o_switches_a_bool_off(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmh_no_orphans = true\n")
    assert _read_options(pytester, "-o", "mh_no_orphans=false")["mh_no_orphans"] is False


def test_every_option_is_in_the_group_with_an_ini_twin_sharing_its_help(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest_subprocess("--help")
    text = result.stdout.str()
    group = text[text.index(f"\n{GROUP}") : text.index("[pytest] configuration options")]
    flat_group = " ".join(group.split())
    flat_ini = " ".join(text[text.index("[pytest] configuration options") :].split())
    for option in OPTIONS:
        shown = option.flag + (f"={option.metavar}" if option.metavar else "")
        assert f"{shown} {option.help}" in flat_group, f"{option.flag} not in the group"
        assert f"{option.name} ({option.kind}): {option.help}" in flat_ini, option.name
    flags_anywhere = set(re.findall(r"--mh-[a-z-]+", text))
    assert flags_anywhere == {option.flag for option in OPTIONS}
