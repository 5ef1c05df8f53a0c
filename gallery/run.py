"""The gallery: each preset on a fresh copy of its sample project, and docs/gallery.md.

For every tool: copy gallery/<tool> (without its probes and hand-written spec) to a
scratch directory, run `migration-harness init --preset <tool>` there, then
`migration-harness check` (``--runs`` times; every case must give the same outcome each
time). Every contract that FAILs is then shown again without the harness, by the tool's
probe (gallery/<tool>/probes/probe.py): a FAIL the probe does not reproduce is marked so,
and the run ends non-zero. A tool whose installer is missing is skipped with the reason.

Run through nox (it installs the pinned tools): nox -s gallery [-- --runs 10]

`--verify PAGE` is CI's quick form: one run per tool, no probes, and the verdicts must be
the ones PAGE (the committed docs/gallery.md, whose FAILs were re-shown when it was
written) says; the page is not rewritten. On a database server a row checks only
VERIFY_SERVER_CONTRACTS there.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import probelib

GALLERY = Path(__file__).resolve().parent
ROOT = GALLERY.parent
PY = sys.executable
#: Left out of the sample a preset starts from: a user's project has none of these.
NOT_THE_PROJECT = ("probes", "README.md", "migration-harness.toml", "__pycache__", "upto")
#: The probe case that shows a contract's failure without the harness.
PROBES = {
    "lock-held": "held-lock",
    "stale-lock": "stale-lock",
    "concurrent": "race",
    "ahead": "future",
    "crash": "kill",
}
#: The server rows' probe cases (gallery/server_probe.py), by contract.
SERVER_PROBES = {"concurrent": "race", "crash": "kill", "no-litter": "kill"}
#: What `--verify` checks of a server row: a full run takes about 2 minutes a row on a
#: 2-core machine (17 hostile-paths cases, the crash sweep); these take a fraction of it.
#: `nox -s gallery` (no --verify) runs every contract.
VERIFY_SERVER_CONTRACTS = ("forward", "idempotent", "revert", "concurrent", "ahead")
CHECK_TIMEOUT_S = 1800
#: A case's scratch directory in a message: `<anything>/mh-run-xxxx/mh-<case>-xxxx/`.
SCRATCH_PATH = re.compile(r"[^\s<>(),;'\"`]*/mh-run-[^/\s]+/(?:mh-[^/\s]+/)?")
PROBE_TIMEOUT_S = 900


@dataclass
class Tool:
    name: str  # the preset's name
    sample: str  # gallery/<sample>
    missing: Callable[[Path], str | None]  # why it cannot run here, or None
    init_flags: Callable[[Path], list[str]] = lambda tools: []
    # contract -> (script in probes/, its VERDICT case) where PROBES' case is not the one
    probes: dict[str, tuple[str, str]] = field(default_factory=dict)
    database: str = ""  # `init --database`: a server engine; "" for SQLite

    @property
    def label(self) -> str:
        """The row's name: the preset, and the server it runs on."""
        return f"{self.name} on {self.database}" if self.database else self.name

    def on(self, engine: str, missing: Callable[[Path], str | None]) -> Tool:
        """This tool on a database server: its own probes are SQLite's, the server's are
        gallery/server_probe.py's."""
        both = _first_reason(self.missing, missing, _server_missing(engine))
        return Tool(self.name, self.sample, both, self.init_flags, {}, engine)


def _python_module(*modules: str) -> Callable[[Path], str | None]:
    def missing(tools: Path) -> str | None:
        absent = [m for m in modules if importlib.util.find_spec(m) is None]
        if absent:
            return f"{', '.join(absent)} not installed (pip install -r gallery/requirements.txt)"
        return None

    return missing


def _dbmate(tools: Path) -> Path | None:
    """The npm package's `dbmate` command (the preset's adapter runs the Go binary it
    starts)."""
    wrapper = tools / "node_modules" / ".bin" / "dbmate"
    return wrapper if wrapper.exists() else None


def _dbmate_missing(tools: Path) -> str | None:
    if _dbmate(tools) is None:
        return "dbmate not installed (needs npm: npm install dbmate, see gallery/package.json)"
    return None


def _sql_migrate_missing(tools: Path) -> str | None:
    if shutil.which("sql-migrate") is None:
        return "sql-migrate not on PATH (Debian/Ubuntu: apt-get install sql-migrate)"
    return None


def _first_reason(*checks: Callable[[Path], str | None]) -> Callable[[Path], str | None]:
    def missing(tools: Path) -> str | None:
        return next((r for r in (check(tools) for check in checks) if r is not None), None)

    return missing


def _server_missing(engine: str) -> Callable[[Path], str | None]:
    def missing(tools: Path) -> str | None:
        from migration_harness.databases import DatabaseUnavailable, start_server

        try:
            start_server(engine).stop()
        except DatabaseUnavailable as exc:
            return str(exc)
        return None

    return missing


def _driver(module: str, package: str) -> Callable[[Path], str | None]:
    def missing(tools: Path) -> str | None:
        if importlib.util.find_spec(module) is None:
            return f"{module} not installed (pip install {package})"
        return None

    return missing


def _nothing(tools: Path) -> str | None:
    return None


SQLITE_TOOLS = [
    Tool("django", "django", _python_module("django")),
    Tool(
        "alembic",
        "alembic",
        _python_module("alembic", "sqlalchemy"),
        # A random kill lands after a DDL statement 1 time in 20; the contract's strace
        # points hit it every run, and so does this probe.
        probes={c: ("kill_after_ddl.py", "kill-after-statement") for c in ("crash", "no-litter")},
    ),
    Tool("dbmate", "dbmate", _dbmate_missing, lambda tools: ["--dbmate", str(_dbmate(tools))]),
    Tool("sql-migrate", "sql-migrate", _sql_migrate_missing),
]
_BY_NAME = {tool.name: tool for tool in SQLITE_TOOLS}
#: The same samples on database servers (Django: PostgreSQL only, see its preset).
SERVER_TOOLS = [
    _BY_NAME["django"].on("postgresql", _driver("psycopg", "'psycopg[binary]'")),
    _BY_NAME["alembic"].on("postgresql", _driver("pg8000", "pg8000")),
    _BY_NAME["dbmate"].on("postgresql", _nothing),
    _BY_NAME["sql-migrate"].on("postgresql", _nothing),
    _BY_NAME["alembic"].on("mariadb", _driver("pymysql", "PyMySQL")),
    _BY_NAME["dbmate"].on("mariadb", _nothing),
    _BY_NAME["sql-migrate"].on("mariadb", _nothing),
]
TOOLS = SQLITE_TOOLS + SERVER_TOOLS


@dataclass
class Outcome:
    """One tool's verdicts over the runs."""

    tool: str
    skipped: str = ""
    error: str = ""
    cases: dict[str, list[str]] = field(default_factory=dict)  # case -> outcome per run
    contracts: dict[str, str] = field(default_factory=dict)  # case -> contract
    messages: dict[str, str] = field(default_factory=dict)  # failed case -> harness's line
    said: dict[str, str] = field(default_factory=dict)  # failed case -> what the tool said
    probes: dict[str, str] = field(default_factory=dict)  # contract -> probe's VERDICT line
    seconds: float = 0.0

    def unstable(self) -> list[str]:
        return [case for case, seen in self.cases.items() if len(set(seen)) > 1]

    def failed_contracts(self) -> list[str]:
        failed = {self.contracts[c] for c, seen in self.cases.items() if "failed" in seen}
        return sorted(failed)

    def unreproduced(self) -> list[str]:
        return [c for c in self.failed_contracts() if "DEFECT" not in self.probes.get(c, "DEFECT?")]


def main() -> int:
    args = _parser().parse_args()
    tools = Path(args.tools).resolve()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="mh-gallery-") as scratch:
        for tool in TOOLS:
            if args.only and tool.label not in args.only:
                continue
            outcomes.append(_one_tool(tool, tools, Path(scratch), args))
    if args.verify:
        return _verify(outcomes, Path(args.verify))
    text = anonymize(render(outcomes, args.runs))
    out = Path(args.out)
    if not args.only:
        out.write_text(text, encoding="utf-8")
        print(f"gallery: wrote {out}")
    else:
        print(text)
    return _exit_code(outcomes)


def _one_tool(tool: Tool, tools: Path, scratch: Path, args: argparse.Namespace) -> Outcome:
    outcome = Outcome(tool.label)
    reason = tool.missing(tools)
    if reason is not None:
        outcome.skipped = reason
        print(f"gallery: {tool.label}: skipped: {reason}", flush=True)
        return outcome
    started = time.monotonic()
    # One directory per row (the project's directory name is the spec's target name).
    project = scratch / (tool.database or "sqlite") / tool.sample
    shutil.copytree(GALLERY / tool.sample, project, ignore=shutil.ignore_patterns(*NOT_THE_PROJECT))
    argv = [PY, "-m", "migration_harness", "init", "--preset", tool.name, "--force"]
    argv += ["--database", tool.database] if tool.database else []
    init = _run([*argv, *tool.init_flags(tools)], project, 120)
    if init.returncode != 0:
        outcome.error = f"init --preset {tool.name} failed: {init.stderr.strip()[-500:]}"
        print(f"gallery: {tool.label}: {outcome.error}", flush=True)
        return outcome
    for run in range(1, args.runs + 1):
        # CI's quick form keeps a server row to the contracts that say most about it.
        only = ["--contract", *VERIFY_SERVER_CONTRACTS] if args.verify and tool.database else []
        if not _one_check(outcome, project, run, args.runs, only):
            return outcome
    for contract in outcome.failed_contracts() if not args.verify else ():
        outcome.probes[contract] = _probe(tool, contract, tools, args.rounds)
    outcome.seconds = time.monotonic() - started
    return outcome


def _one_check(outcome: Outcome, project: Path, run: int, runs: int, only: list[str]) -> bool:
    report, junit = project / f"report-{run}.json", project / f"junit-{run}.xml"
    argv = [PY, "-m", "migration_harness", "check", *only, "--report-json", str(report)]
    result = _run([*argv, "--junitxml", str(junit)], project, CHECK_TIMEOUT_S)
    verdict = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    print(f"gallery: {outcome.tool}: run {run} of {runs}: {verdict}", flush=True)
    if result.returncode not in (0, 1) or not report.exists():
        outcome.error = f"check ended with exit {result.returncode}: {verdict or result.stderr}"
        return False
    details = _failure_texts(junit)
    for case in json.loads(report.read_text(encoding="utf-8"))["results"]:
        name = case["case"]
        outcome.cases.setdefault(name, []).append(case["outcome"])
        outcome.contracts[name] = case["contract"]
        if case["outcome"] == "failed" and name not in outcome.messages:
            outcome.messages[name] = _whole_message(case["message"], details.get(name, ""))
            outcome.said[name] = _tool_said(details.get(name, ""))
    return True


def _whole_message(message: str, details: str) -> str:
    """A report's one-line message; one that ends with a colon ("crash point 14 of 22 ...
    broke the repo:") gets the line that follows it in the full text (which point)."""
    if not message.endswith(":"):
        return message
    lines = details.splitlines()
    for index, line in enumerate(lines[:-1]):
        if line.strip() == message.strip() and lines[index + 1].strip():
            return f"{message} {lines[index + 1].strip()}"
    return message


def _failure_texts(junit: Path) -> dict[str, str]:
    """Case name -> its full failure text, from the JUnit report."""
    texts: dict[str, str] = {}
    for testcase in ET.parse(junit).getroot().iter("testcase"):
        for failure in testcase.iter("failure"):
            texts[testcase.get("name", "")] = failure.text or failure.get("message", "")
    return texts


def _tool_said(details: str) -> str:
    """The error line of the last command's stderr in a failure text ('' if it had none)."""
    parts = re.split(r"^--- stderr(.*)---$", details, flags=re.M)
    if len(parts) < 3 or "(empty)" in parts[-2]:
        return ""
    output = parts[-1].split("\nscratch directory kept for inspection:", 1)[0]
    line = probelib.first_error_line(output) if output.strip() else ""
    # The last command may be a racer that succeeded: its log lines say nothing failed.
    return line if any(key in line for key in probelib.ERROR_KEYS) else ""


def _probe(tool: Tool, contract: str, tools: Path, rounds: int) -> str:
    probes = GALLERY / tool.sample / "probes"
    if tool.database and contract in SERVER_PROBES:
        case = SERVER_PROBES[contract]
        script = GALLERY / "server_probe.py"
        argv = [PY, str(script), tool.name, tool.database, case, "--rounds", str(rounds)]
    elif tool.database:
        return f"no probe shows a {contract} failure on {tool.database} without the harness"
    elif contract in tool.probes:
        script, case = tool.probes[contract]
        argv = [PY, str(probes / script)]
    elif contract in PROBES:
        case = PROBES[contract]
        argv = [PY, str(probes / "probe.py"), case, "--rounds", str(rounds), "--kills", str(rounds)]
    else:
        return f"no probe shows a {contract} failure without the harness"
    env = {"GALLERY_TOOLS": str(tools), "GALLERY_VENV_BIN": str(Path(PY).parent)}
    result = _run(argv, GALLERY / tool.sample, PROBE_TIMEOUT_S, env)
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith(f"VERDICT {case}:")]
    found = lines[-1] if lines else f"probe {case} printed no verdict (exit {result.returncode})"
    print(f"gallery: {tool.label}: {contract}: {found}", flush=True)
    return found


def _run(
    argv: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# --- the page ---------------------------------------------------------------------------


def render(outcomes: list[Outcome], runs: int) -> str:
    contracts = _contract_order(outcomes)
    lines = [
        "# Gallery: the contract on migration tools people use",
        "",
        "Each row is a real tool on a small sample project (three migrations on one SQLite",
        "file: create `notes` with three rows, add a `slug` column, fill it), set up with",
        "`migration-harness init --preset NAME` and checked with `migration-harness check`,",
        "unchanged. Written by `nox -s gallery`, which installs the pinned tools",
        f"(gallery/requirements.txt, gallery/package.json, Debian's sql-migrate); {runs} run(s)",
        f"of `check` per tool on {platform.system()} (Python {platform.python_version()}).",
        "",
        "A row `TOOL on postgresql` or `TOOL on mariadb` is the same sample set up with",
        "`init --preset NAME --database ENGINE`: `check` starts a throwaway server and gives",
        "each case a database of its own (none of these tools locks on a server, so the lock",
        "contracts are skipped there).",
        "",
        "Every FAIL is shown again without migration-harness by the tool's probe",
        "(`gallery/<tool>/probes/probe.py`; on a server, `gallery/server_probe.py`), so what",
        "the table says is what the tool does.",
        "",
        "| tool | " + " | ".join(contracts) + " |",
        "| --- | " + " | ".join("---" for _ in contracts) + " |",
    ]
    for outcome in outcomes:
        if outcome.skipped or outcome.error:
            lines.append(f"| {outcome.tool} | " + " | ".join("-" for _ in contracts) + " |")
            continue
        cells = [_cell(outcome, c) for c in contracts]
        lines.append(f"| {outcome.tool} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "PASS: every case passed; FAIL: a case failed; skip: the contract does not",
        "apply (the tool has no such feature); FLAKY: outcomes differed between runs.",
        "",
    ]
    for outcome in outcomes:
        if outcome.skipped:
            lines.append(f"- {outcome.tool}: not run here: {outcome.skipped}")
        elif outcome.error:
            lines.append(f"- {outcome.tool}: could not run: {outcome.error}")
    lines += [""] if any(o.skipped or o.error for o in outcomes) else []
    for outcome in outcomes:
        lines += _evidence(outcome)
    return "\n".join(lines).rstrip() + "\n"


def anonymize(text: str) -> str:
    """The page is committed: scratch and tool paths by role, not by where they were."""
    text = SCRATCH_PATH.sub("<scratch>/", text)
    return probelib.anonymize(text).replace(str(ROOT), ".")


def _contract_order(outcomes: list[Outcome]) -> list[str]:
    order: list[str] = []
    for outcome in outcomes:
        for contract in outcome.contracts.values():
            if contract not in order:
                order.append(contract)
    return order


def _cell(outcome: Outcome, contract: str) -> str:
    seen = [
        o
        for case, runs in outcome.cases.items()
        if outcome.contracts[case] == contract
        for o in runs
    ]
    unstable = [c for c in outcome.unstable() if outcome.contracts[c] == contract]
    if unstable:
        return "FLAKY"
    if "failed" in seen:
        return "FAIL"
    if "error" in seen:
        return "ERROR"
    if seen and all(o == "skipped" for o in seen):
        return "skip"
    return "PASS" if seen else ""


def _evidence(outcome: Outcome) -> list[str]:
    failed = [c for c, runs in outcome.cases.items() if "failed" in runs]
    if not failed:
        return []
    lines = [f"## {outcome.tool}", ""]
    for case in failed:
        contract = outcome.contracts[case]
        said = outcome.said.get(case, "")
        lines.append(
            f"- **{case}**: {outcome.messages.get(case, '')}"
            + (f"; the tool said: `{said}`" if said else "")
        )
        probe = outcome.probes.get(contract, "")
        if probe:
            name = probe.removeprefix("VERDICT ").split(":", 1)[0]
            evidence = probe.split(":", 1)[-1].strip()
            lines.append(f"  - without the harness ({name} probe): {evidence}")
    unstable = outcome.unstable()
    if unstable:
        lines.append(f"- outcomes differed between runs: {', '.join(unstable)}")
    return [*lines, ""]


def _verify(outcomes: list[Outcome], page: Path) -> int:
    """0 if every tool that ran gave the verdicts ``page``'s table gives it."""
    committed = _table(page.read_text(encoding="utf-8"))
    code = 0
    for outcome in outcomes:
        if outcome.skipped or outcome.error:
            print(f"gallery: {outcome.tool}: {outcome.skipped or outcome.error}")
            code = code or (1 if outcome.error else 0)
            continue
        expected = committed.get(outcome.tool, {})
        now = {c: _cell(outcome, c) for c in expected if c in set(outcome.contracts.values())}
        changed = [f"{c}: {expected[c]} -> {now[c]}" for c in now if now[c] != expected[c]]
        if changed or not expected:
            print(
                f"gallery: {outcome.tool}: not what {page} says: "
                + ("; ".join(changed) or "no row for it"),
                file=sys.stderr,
            )
            code = 1
        else:
            print(f"gallery: {outcome.tool}: the verdicts {page} shows")
    return code


def _table(text: str) -> dict[str, dict[str, str]]:
    """The verdict table of a gallery page: tool -> contract -> cell."""
    rows = [
        [c.strip() for c in ln.strip().strip("|").split("|")]
        for ln in text.splitlines()
        if ln.startswith("| ")
    ]
    if not rows or rows[0][0] != "tool":
        return {}
    header = rows[0][1:]
    body = [row for row in rows[1:] if row[0] and not row[0].startswith("---")]
    return {row[0]: dict(zip(header, row[1:], strict=False)) for row in body}


def _exit_code(outcomes: list[Outcome]) -> int:
    code = 0
    for outcome in outcomes:
        for problem, cases in (
            ("not the same in every run", outcome.unstable()),
            ("not reproduced without the harness", outcome.unreproduced()),
        ):
            if cases:
                print(f"gallery: {outcome.tool}: {problem}: {', '.join(cases)}", file=sys.stderr)
                code = 1
        if outcome.error:
            print(f"gallery: {outcome.tool}: {outcome.error}", file=sys.stderr)
            code = 1
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", default=str(probelib.TOOLS), help="where npm put dbmate")
    parser.add_argument("--runs", type=int, default=1, help="check runs per tool (default 1)")
    parser.add_argument("--rounds", type=int, default=16, help="probe rounds per FAIL")
    parser.add_argument("--only", nargs="*", default=[], help="these tools only; print the page")
    parser.add_argument("--out", default=str(ROOT / "docs" / "gallery.md"))
    parser.add_argument("--verify", metavar="PAGE", help="compare with PAGE; no probes")
    return parser


if __name__ == "__main__":
    sys.exit(main())
