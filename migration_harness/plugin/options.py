"""Every option of the plugin: one ``migration-harness`` group, each flag with an ini twin.

Each option is a flag (``--mh-env-guard``) and an ini key of the same name with
underscores (``mh_env_guard``), both with the same help text. One rule decides its
value, in :func:`value`: the command line beats the ini file, which beats the default.
A flag without a value (``--mh-env-guard``) can only switch its option on; pytest's
own ``-o mh_env_guard=false`` switches an ini value off from the command line.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import pytest

GROUP = "migration-harness"


# A NamedTuple, not a frozen dataclass: this module loads in every pytest session of
# the venv, and a dataclass costs about a millisecond to define.
class Option(NamedTuple):
    """One option: ``name`` is the ini key and the flag's ``dest``."""

    name: str
    help: str
    kind: Literal["string", "bool", "linelist"] = "string"
    metavar: str | None = None
    default: Any = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


OPTIONS: tuple[Option, ...] = (
    Option(
        "mh_contract",
        "add the migration safety contract for the target in SPEC "
        "(migration-harness.toml or pyproject.toml; 'reference' for the built-in tool)",
        metavar="SPEC",
    ),
    Option(
        "mh_contract_id",
        "run only this contract id (flag repeatable; ini: one id a line)",
        kind="linelist",
        metavar="ID",
        default=(),
    ),
    Option("mh_mutant", "run the built-in reference tool as one of its mutants", metavar="NAME"),
    Option(
        "mh_crash_backend", "force a crash-point backend: strace, hook or sweep", metavar="NAME"
    ),
    Option(
        "mh_crash_jobs",
        "run a crash case's points N at a time, each on its own copy of the repo (default:"
        " the spec's crash.jobs, else one per CPU)",
        metavar="N",
    ),
    Option(
        "mh_shard",
        "run shard K of N of the contract's cases (every N-th case, in report order)",
        metavar="K/N",
    ),
    Option(
        "mh_scratch_root",
        "make each contract case's scratch directory under DIR (default: the temporary"
        " directory; `check` gives each run one)",
        metavar="DIR",
    ),
    Option(
        "mh_progress",
        "print a long contract case's progress (e.g. crash points done of total) on stderr,"
        " a line every 15 s",
        kind="bool",
        default=False,
    ),
    Option(
        "mh_keep_scratch",
        "keep (and name) the scratch directory of a case cut short by an interrupt",
        kind="bool",
        default=False,
    ),
    Option(
        "mh_env_guard",
        "fail a test that leaves os.environ or the working directory changed",
        kind="bool",
        default=False,
    ),
    Option(
        "mh_env_guard_ignore",
        "an environment variable the env guard does not check (flag repeatable; ini: one a line)",
        kind="linelist",
        metavar="NAME",
        default=(),
    ),
    Option(
        "mh_no_orphans",
        "error a test that leaves a process it started running (it is killed either way)",
        kind="bool",
        default=False,
    ),
)

_BY_NAME = {option.name: option for option in OPTIONS}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "migration-harness (each flag has an ini twin: mh_...)")
    for option in OPTIONS:
        group.addoption(
            option.flag, dest=option.name, default=None, help=option.help, **_how(option)
        )
        # default=None: "not in the ini file" must differ from any value written there.
        parser.addini(option.name, option.help, type=_INI_TYPE[option.kind], default=None)


_INI_TYPE: dict[str, Literal["bool", "linelist"] | None] = {
    "string": None,
    "bool": "bool",
    "linelist": "linelist",
}


def _how(option: Option) -> dict[str, Any]:
    if option.kind == "bool":
        return {"action": "store_true"}
    if option.kind == "linelist":
        return {"action": "append", "metavar": option.metavar}
    return {"metavar": option.metavar}


def value(config: pytest.Config, name: str) -> Any:
    """The option's value: the command line's, else the ini file's, else the default."""
    given = config.getoption(name, None)
    if not _unset(given):
        return given
    written = config.getini(name)
    if not _unset(written):
        return written
    return _BY_NAME[name].default


def _unset(found: object) -> bool:
    # pytest < 8.1 returns [] (not the default None) for an absent typed ini key.
    return found is None or found == [] or found == ""
