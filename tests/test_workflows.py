"""The GitHub workflows, validated offline: schema, zizmor, pinning, path-filter coverage.

check-jsonschema (with its bundled GitHub workflow schema) and zizmor run as real
subprocesses; both come with the ``test`` extra.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

import migration_harness.cli
from migration_harness import __version__
from migration_harness.mockbin import build_mock
from migration_harness.origin import home_url
from migration_harness.scaffold import (
    WORKFLOW_FILE,
    ScaffoldValues,
    default_harness,
    default_workflow_ref,
    render,
)
from migration_harness.target import REFERENCE_SPEC
from migration_harness.windows import running_under_wine
from tests import sub
from tests.checkout import git_head

ROOT = Path(__file__).resolve().parents[1]
# The package as imported: the checkout's, or the installed wheel's in the release workflow.
PACKAGE = Path(migration_harness.__file__).resolve().parent
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
MIGRATIONS = WORKFLOWS / "migrations.yml"
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+)*\s*$")
TOOL_TIMEOUT_S = 120
# A fresh venv installing the harness and its dependencies from the package index.
INSTALL_TIMEOUT_S = 600

# Seeds of the path-filter check: the code that migrates repos.
MIGRATION_PACKAGES = ("migration_harness.contract", "migration_harness.reference")


# ---------------------------------------------------------------- helpers


def load_yaml(path: Path) -> Any:
    return load_yaml_text(path.read_text(encoding="utf-8"))


def load_yaml_text(text: str) -> Any:
    # ruamel reads YAML 1.2, where `on:` stays the string "on" (PyYAML would make it True).
    return YAML(typ="safe").load(text)


def find_tool(name: str) -> str | None:
    """The tool installed next to this interpreter (the test extra), else on PATH."""
    scripts = sysconfig.get_path("scripts")
    return shutil.which(name, path=scripts) or shutil.which(name)


def run_tool(
    args: list[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = TOOL_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    return sub.run(
        args,
        cwd=cwd,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        check=False,
    )


def require_tool(name: str) -> str:
    if running_under_wine():
        # Both are Rust-built (rpds-py behind jsonschema, zizmor.exe) and load
        # bcryptprimitives.dll, which Wine 8 lacks; real Windows runners have it.
        pytest.skip(f"{name} needs bcryptprimitives.dll, which Wine does not provide")
    path = find_tool(name)
    if path is None:
        pytest.skip(f"{name} is not installed: pip install -e '.[test]' provides it")
    return path


def all_uses(node: Any) -> Iterator[str]:
    """Every `uses:` value (steps and reusable-workflow jobs) in a parsed workflow."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "uses" and isinstance(value, str):
                yield value
            else:
                yield from all_uses(value)
    elif isinstance(node, list):
        for item in node:
            yield from all_uses(item)


def unpinned_uses_lines(text: str) -> list[str]:
    """`uses:` lines not pinned by a full commit SHA with the version in a comment."""
    bad = []
    for line in text.splitlines():
        match = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", line)
        if not match:
            continue
        ref, rest = match.groups()
        if ref.startswith("./"):
            continue  # a workflow or action of this repository: pinned by the checkout
        if not SHA_PIN.match(ref) or not VERSION_COMMENT.search(rest):
            bad.append(line.strip())
    return bad


def zizmor_high_findings(zizmor: str, target: Path, cwd: Path) -> list[str]:
    result = run_tool([zizmor, "--offline", "--format", "json", str(target)], cwd)
    try:
        findings = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        pytest.fail(f"zizmor printed no JSON (exit {result.returncode}):\n{result.stderr}")
    assert isinstance(findings, list), result.stdout
    return [
        f"{f['ident']}: {f['desc']} at "
        + ", ".join(str(loc["concrete"]["feature"]).strip()[:100] for loc in f["locations"])
        for f in findings
        if f["determinations"]["severity"] == "High"
    ]


# ------------------------------------------- GitHub path filters (hand-written: why)
# GitHub's filter globs are not gitignore's (`*` never crosses `/`, a slash-less pattern
# is not matched at any depth) nor fnmatch's, and no library implements them, so this
# small translator covers the subset the workflows use; patterns outside it are rejected.


def filter_regex(pattern: str) -> re.Pattern[str]:
    if re.search(r"[?+\[\]!]", pattern):
        raise ValueError(f"path filter {pattern!r} uses syntax this check does not model")
    parts = re.split(r"(\*\*|\*)", pattern)
    body = "".join(
        ".*" if part == "**" else "[^/]*" if part == "*" else re.escape(part) for part in parts
    )
    return re.compile(body + r"\Z")


def unmatched(paths: Iterable[str], patterns: Iterable[str]) -> list[str]:
    regexes = [filter_regex(p) for p in patterns]
    return sorted(p for p in paths if not any(r.match(p) for r in regexes))


# ------------------------------------------- import graph of the harness package


def module_files(package_root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under ``package_root``."""
    base = package_root.parent
    out = {}
    for path in sorted(package_root.rglob("*.py")):
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of ``known`` that ``name`` imports: import statements (absolute and
    relative) plus string constants naming a module (``pytest_plugins``, importlib)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        candidates: list[str] = []
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            candidates = [node.value]
        for candidate in candidates:
            # `import migration_harness.proc.daemon` also runs harness and migration_harness.proc.
            pieces = candidate.split(".")
            found.update(".".join(pieces[:i]) for i in range(1, len(pieces) + 1))
    return (found & known) - {name}


def migration_modules(package_root: Path, extra_edges: Mapping[str, set[str]]) -> set[str]:
    """Modules under the seeds, everything they import, and everything importing them."""
    files = module_files(package_root)
    known = set(files)
    edges = {name: imported_modules(name, path, known) for name, path in files.items()}
    for name, targets in extra_edges.items():
        edges.setdefault(name, set()).update(targets & known)
    seeds = {m for m in known if any(m == s or m.startswith(s + ".") for s in MIGRATION_PACKAGES)}
    return closure(seeds, edges) | closure(seeds, reverse(edges))


def reverse(edges: Mapping[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for source, targets in edges.items():
        for target in targets:
            out.setdefault(target, set()).add(source)
    return out


def closure(start: set[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen, todo = set(start), list(start)
    while todo:
        for nxt in edges.get(todo.pop(), set()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def cli_edges() -> dict[str, set[str]]:
    # migration_harness.cli imports its subcommands by name at run time (importlib + f-string).
    return {
        "migration_harness.cli": {
            f"migration_harness.cli.{name}" for name in migration_harness.cli.SUBCOMMANDS
        }
    }


def migration_filter(workflow: Mapping[str, Any], event: str) -> list[str]:
    paths = workflow["on"][event]["paths"]
    assert isinstance(paths, list)
    return [str(p) for p in paths]


# ---------------------------------------------------------------- tests


def test_the_workflows_exist() -> None:
    names = {p.name for p in WORKFLOW_FILES}
    assert {"ci.yml", "migrations.yml", "contract.yml", "release.yml"} <= names, names


@pytest.mark.parametrize("workflow", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflow_matches_github_schema(workflow: Path) -> None:
    tool = require_tool("check-jsonschema")
    result = run_tool([tool, "--builtin-schema", "vendor.github-workflows", str(workflow)], ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    tool = require_tool("check-jsonschema")
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    steps: 7\n", encoding="utf-8")
    result = run_tool([tool, "--builtin-schema", "vendor.github-workflows", str(broken)], tmp_path)
    assert result.returncode != 0, result.stdout


@pytest.mark.parametrize("workflow", WORKFLOW_FILES, ids=lambda p: p.name)
def test_zizmor_finds_nothing_high(workflow: Path) -> None:
    zizmor = require_tool("zizmor")
    assert zizmor_high_findings(zizmor, workflow, ROOT) == []


def test_zizmor_catches_injection_and_unpinned_actions(tmp_path: Path) -> None:
    zizmor = require_tool("zizmor")
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request_target\npermissions: write-all\njobs:\n  a:\n"
        "    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n',
        encoding="utf-8",
    )
    idents = " ".join(zizmor_high_findings(zizmor, bad, tmp_path))
    assert "template-injection" in idents and "unpinned-uses" in idents, idents


@pytest.mark.parametrize("workflow", WORKFLOW_FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_sha(workflow: Path) -> None:
    text = workflow.read_text(encoding="utf-8")
    assert unpinned_uses_lines(text) == []
    # The line scan saw every `uses:` that YAML sees (none hidden in flow style).
    scanned = re.findall(r"^\s*(?:-\s+)?uses:\s*(\S+)", text, flags=re.MULTILINE)
    assert sorted(scanned) == sorted(all_uses(load_yaml(workflow)))


def test_pin_check_rejects_tags_branches_and_missing_comments() -> None:
    sha = "3d3c42e5aac5ba805825da76410c181273ba90b1"
    text = (
        "      - uses: actions/checkout@v4\n"
        "      - uses: actions/checkout@main # v4\n"
        f"      - uses: actions/checkout@{sha}\n"
        f"      - uses: actions/checkout@{sha[:12]} # v4.1.0\n"
        f"      - uses: actions/checkout@{sha} # v7.0.1\n"
        "      - uses: ./.github/actions/local\n"
    )
    assert len(unpinned_uses_lines(text)) == 4


@pytest.mark.parametrize("workflow", WORKFLOW_FILES, ids=lambda p: p.name)
def test_least_privilege_and_bounded_jobs(workflow: Path) -> None:
    data = load_yaml(workflow)
    assert data["permissions"] == {"contents": "read"}
    for name, job in data["jobs"].items():
        assert "timeout-minutes" in job, f"{workflow.name}: job {name} has no timeout-minutes"
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"{workflow.name}: {name}"


def test_ci_matrix_covers_three_oses_and_every_supported_python() -> None:
    data = load_yaml(WORKFLOWS / "ci.yml")
    tests = data["jobs"]["tests"]
    assert tests["strategy"]["fail-fast"] is False
    matrix = tests["strategy"]["matrix"]
    assert set(matrix["os"]) == {"ubuntu-latest", "macos-latest", "windows-latest"}
    assert matrix["python"] == ["3.10", "3.11", "3.12", "3.13", "3.14"]
    assert data["concurrency"]["cancel-in-progress"] is True
    runs = " ".join(str(s.get("run", "")) for job in data["jobs"].values() for s in job["steps"])
    for command in ("nox -s tests", "--junitxml", "nox -s lint typecheck", "nox -s check"):
        assert command in runs
    uploads = [s for s in tests["steps"] if "upload-artifact" in str(s.get("uses", ""))]
    assert uploads and uploads[0]["if"] == "failure()"


def test_migration_filter_is_the_same_for_push_and_pull_request() -> None:
    data = load_yaml(MIGRATIONS)
    assert migration_filter(data, "push") == migration_filter(data, "pull_request")
    assert ".github/workflows/migrations.yml" in migration_filter(data, "push")


def test_migration_filter_covers_every_module_that_calls_or_is_called_by_migrations() -> None:
    patterns = migration_filter(load_yaml(MIGRATIONS), "push")
    files = module_files(PACKAGE)
    modules = migration_modules(PACKAGE, cli_edges())
    paths = [files[m].relative_to(PACKAGE.parent).as_posix() for m in modules]
    assert "migration_harness/__init__.py" in paths  # the import graph was read at all
    assert unmatched(paths, patterns) == [], (
        "add these to the paths of .github/workflows/migrations.yml (push and pull_request)"
    )
    data_dirs = ((PACKAGE.parent, "migration_harness/reference"), (ROOT, "fixtures/golden"))
    data_files = [
        p.relative_to(base).as_posix()
        for base, folder in data_dirs
        for p in (base / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]
    assert unmatched(data_files, patterns) == []


def test_filter_check_catches_a_caller_the_filter_misses(tmp_path: Path) -> None:
    pkg = tmp_path / "migration_harness"
    for rel, text in {
        "__init__.py": "",
        "contract/__init__.py": "from migration_harness.proc import run\n",
        "reference/__init__.py": "",
        "reference/daemon.py": "from . import errors\n",
        "reference/errors.py": "",
        "proc/__init__.py": "",
        "proc/run.py": "",
        "plugin/__init__.py": 'pytest_plugins = ["migration_harness.contract"]\n',
        "cmd/serve.py": "from ..reference.daemon import main\n",
        "unrelated.py": "import json\n",
    }.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text, encoding="utf-8")
    modules = migration_modules(pkg, {})
    assert modules == {
        "migration_harness",
        "migration_harness.contract",
        "migration_harness.reference",
        "migration_harness.reference.daemon",
        "migration_harness.reference.errors",
        "migration_harness.proc",
        "migration_harness.proc.run",  # `from ...proc import run` may name a submodule
        "migration_harness.plugin",
        "migration_harness.cmd.serve",
    }
    paths = [module_files(pkg)[m].relative_to(tmp_path).as_posix() for m in modules]
    kubo_like = [
        "migration_harness/contract/**",
        "migration_harness/reference/**",
        "migration_harness/__init__.py",
    ]
    assert unmatched(paths, kubo_like) == [
        "migration_harness/cmd/serve.py",
        "migration_harness/plugin/__init__.py",
        "migration_harness/proc/__init__.py",
        "migration_harness/proc/run.py",
    ]


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("migration_harness/cli/**", "migration_harness/cli/check.py", True),
        ("migration_harness/cli/**", "migration_harness/cli/sub/deep.py", True),
        ("migration_harness/cli/**", "migration_harness/client.py", False),
        ("migration_harness/*.py", "migration_harness/env.py", True),
        ("migration_harness/*.py", "migration_harness/proc/run.py", False),
        ("migration_harness/env.py", "migration_harness/env_py", False),
    ],
)
def test_filter_glob_semantics(pattern: str, path: str, matches: bool) -> None:
    assert bool(filter_regex(pattern).match(path)) is matches


def test_reusable_workflow_inputs_and_no_expression_in_scripts() -> None:
    data = load_yaml(WORKFLOWS / "contract.yml")
    inputs = data["on"]["workflow_call"]["inputs"]
    assert json.loads(inputs["os"]["default"]) == [
        "ubuntu-latest",
        "macos-latest",
        "windows-latest",
    ]
    assert json.loads(inputs["python-versions"]["default"]) == ["3.12"]
    assert inputs["spec"]["default"] == "migration-harness.toml"
    # A reusable workflow cannot see its own commit, so it cannot default to itself.
    assert inputs["harness-version"]["required"] is True
    assert "default" not in inputs["harness-version"]
    assert "pytest-args" in inputs
    for job in data["jobs"].values():
        for step in job["steps"]:
            # Template injection: an input expanded inside a script becomes shell code.
            assert "${{" not in str(step.get("run", "")), step
    summary = data["jobs"]["summary"]
    assert summary["if"] == "${{ always() }}" and summary["needs"] == "contract"


def run_bash(
    script: str, cwd: Path, env: Mapping[str, str], timeout: float = TOOL_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """A workflow step's script as the runner runs it (`shell: bash`)."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash not found")
    return run_tool([bash, "-eo", "pipefail", "-c", script], cwd, env, timeout)


def _step_script(workflow: str, job: str, step_name: str) -> str:
    steps = load_yaml(WORKFLOWS / workflow)["jobs"][job]["steps"]
    (step,) = [s for s in steps if s.get("name") == step_name]
    return str(step["run"])


@pytest.mark.skipif(os.name == "nt", reason="runs the step's bash script (POSIX bash)")
def test_reusable_workflow_summary_step_writes_the_table(tmp_path: Path) -> None:
    script = _step_script("contract.yml", "summary", "Contract x OS table")
    reports = tmp_path / "reports"
    reports.mkdir()
    for platform, outcome in (("linux", "passed"), ("win32", "failed")):
        report = {
            "target": "mytool",
            "platform": platform,
            "python": "3.12.4",
            "mutant": None,
            "results": [
                {
                    "contract": "forward",
                    "case": "forward[1-2]",
                    "outcome": outcome,
                    "duration": 0.1,
                    "message": "" if outcome == "passed" else "Access is denied\nmore",
                }
            ],
        }
        (reports / f"report-{platform}-py3.12.json").write_text(json.dumps(report), "utf-8")
    step_summary = tmp_path / "summary.md"
    env = dict(os.environ)  # a copy for the child: os.environ itself is never changed
    env["GITHUB_STEP_SUMMARY"] = str(step_summary)
    env["PATH"] = os.pathsep.join([sysconfig.get_path("scripts"), env.get("PATH", "")])
    result = run_bash(script, tmp_path, env)  # migration-harness itself, as installed
    assert result.returncode == 1, result.stderr  # a failed contract fails the job
    table = step_summary.read_text(encoding="utf-8")
    assert "| `forward` | ✅ 1/1 | ❌ 1/1 failed |" in table
    assert "- ❌ `forward[1-2]` on Windows: Access is denied" in table


@pytest.mark.parametrize("pinned", [False, True], ids=["tag-ref", "sha-ref"])
def test_scaffolded_caller_workflow_validates(tmp_path: Path, pinned: bool) -> None:
    checker = require_tool("check-jsonschema")
    zizmor = require_tool("zizmor")
    commit = "0123456789abcdef0123456789abcdef01234567" if pinned else None
    ref = default_workflow_ref(commit)
    files = render(ScaffoldValues(name="mytool", workflow=ref, harness=default_harness(commit)))
    workflow = tmp_path / WORKFLOW_FILE
    workflow.parent.mkdir(parents=True)
    workflow.write_text(files[WORKFLOW_FILE], encoding="utf-8")
    result = run_tool(
        [checker, "--builtin-schema", "vendor.github-workflows", str(workflow)], tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(all_uses(load_yaml(workflow))) == [ref]
    findings = zizmor_high_findings(zizmor, workflow, tmp_path)
    # A release tag is readable but movable; the template tells users to pin a SHA.
    assert [f.split(":")[0] for f in findings] == ([] if pinned else ["unpinned-uses"])


@pytest.mark.skipif(os.name == "nt", reason="runs the step's bash script (POSIX bash)")
@pytest.mark.parametrize(
    ("pytest_args", "shard", "expected_extra"),
    [
        ("", "1/1", []),
        ("-x  -k forward *", "1/1", ["-x", "-k", "forward", "*"]),
        ("-x", "2/3", ["--shard", "2/3", "-x"]),
    ],
    ids=["no-args", "split-not-globbed", "shard"],
)
def test_reusable_workflow_check_step_passes_inputs_as_arguments(
    tmp_path: Path, pytest_args: str, shard: str, expected_extra: list[str]
) -> None:
    mock = build_mock(tmp_path / "bin", "migration-harness", {"exit_code": 0})
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "decoy.txt").write_text("a file a glob would find", "utf-8")
    script = _step_script("contract.yml", "contract", "migration-harness check")
    env = dict(os.environ)  # a copy for the child: os.environ itself is never changed
    env.update(
        SPEC="my spec.toml",
        PYTEST_ARGS=pytest_args,
        SHARD=shard,
        REPORT="report-ubuntu-latest-py3.12.json",
        PATH=os.pathsep.join([str(mock.directory), env.get("PATH", "")]),
    )
    result = run_bash(script, tmp_path / "work", env)
    assert result.returncode == 0, result.stderr
    (call,) = mock.calls()
    assert call.args == [
        "check",
        "--config",
        "my spec.toml",
        "--report-json",
        "report-ubuntu-latest-py3.12.json",
        *expected_extra,
    ]


# ------------------------------------------------------------ release workflow


def release_jobs() -> dict[str, Any]:
    jobs = load_yaml(WORKFLOWS / "release.yml")["jobs"]
    assert isinstance(jobs, dict)
    return jobs


def runs(job: Mapping[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in job["steps"])


def test_release_runs_on_version_tags_with_a_dry_run_by_default() -> None:
    on = load_yaml(WORKFLOWS / "release.yml")["on"]
    assert on["push"] == {"tags": ["v*"]}
    dry_run = on["workflow_dispatch"]["inputs"]["dry-run"]
    assert dry_run["type"] == "boolean" and dry_run["default"] is True


def test_release_builds_once_and_checks_what_it_built() -> None:
    jobs = release_jobs()
    builders = [name for name, job in jobs.items() if "python -m build" in runs(job)]
    assert builders == ["build"]
    script = runs(jobs["build"])
    assert "twine check --strict dist/*" in script
    assert 'tests/dist_check.py dist --tag "$TAG"' in script  # the tag and its CHANGELOG
    (upload,) = [s for s in jobs["build"]["steps"] if "upload-artifact" in str(s.get("uses"))]
    assert upload["with"]["name"] == "dist"


def test_release_tests_the_wheel_not_the_checkout() -> None:
    job = release_jobs()["test-wheel"]
    assert job["needs"] == "build"
    assert set(job["strategy"]["matrix"]["os"]) == {
        "ubuntu-latest",
        "macos-latest",
        "windows-latest",
    }
    script = runs(job)
    # The source package goes before the install, so no import can reach it.
    assert script.index("rm -rf migration_harness") < script.index("pip install")
    assert '"${wheels[0]}[test]"' in script and "python -m pytest tests" in script


def test_release_publishes_with_trusted_publishing_only_from_a_tag() -> None:
    job = release_jobs()["publish"]
    assert set(job["needs"]) == {"build", "test-wheel"}
    condition = job["if"]
    assert "startsWith(github.ref, 'refs/tags/v')" in condition and "!inputs.dry-run" in condition
    assert job["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "attestations": "write",
    }
    uses = [str(step.get("uses", "")).split("@")[0] for step in job["steps"]]
    assert uses[-2:] == ["actions/attest-build-provenance", "pypa/gh-action-pypi-publish"]
    publish = job["steps"][-1]
    assert not {"password", "user"} & set(publish.get("with", {}))  # no stored token
    assert "secrets." not in (WORKFLOWS / "release.yml").read_text(encoding="utf-8")


# ------------------------------------------- the install step, run as written


@pytest.mark.skipif(os.name == "nt", reason="runs the step's bash script (POSIX bash)")
def test_scaffolded_install_step_installs_the_harness_from_a_local_copy(tmp_path: Path) -> None:
    """What `init` writes, run through contract.yml's install step, with the repository's
    URL pointed at this checkout: a fresh venv gets the harness at this commit."""
    commit = git_head(ROOT)
    if commit is None:
        pytest.skip("needs git and a git checkout of the project")
    files = render(
        ScaffoldValues(
            name="mytool", workflow=default_workflow_ref(commit), harness=default_harness(commit)
        )
    )
    (caller,) = load_yaml_text(files[WORKFLOW_FILE])["jobs"].values()
    requirement = caller["with"]["harness-version"]
    # `file://localhost/...`: older pip rejects a `git+file:` URL without a host.
    local = "file://localhost" + ROOT.as_posix()
    assert requirement.count(home_url()) == 1, requirement
    requirement = requirement.replace(home_url(), local)
    script = _step_script("contract.yml", "contract", "Install migration-harness")

    venv = tmp_path / "venv"
    sub.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=TOOL_TIMEOUT_S)
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env.update(
        HARNESS_VERSION=requirement,
        VIRTUAL_ENV=str(venv),
        PATH=os.pathsep.join([str(venv / "bin"), env.get("PATH", "")]),
    )
    result = run_bash(script, tmp_path, env, timeout=INSTALL_TIMEOUT_S)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # The step ends with `migration-harness --version`: the venv's, at this commit.
    assert f"migration-harness {__version__} (commit {commit})" in result.stdout
    assert (venv / "bin" / "migration-harness").is_file()


@pytest.mark.skipif(os.name == "nt", reason="runs the step's bash script (POSIX bash)")
@pytest.mark.parametrize(("shards", "listed"), [("1", "[1]"), ("3", "[1,2,3]")])
def test_the_plan_job_lists_one_shard_number_per_job(
    tmp_path: Path, shards: str, listed: str
) -> None:
    script = _step_script("contract.yml", "plan", "Shard numbers")
    output = tmp_path / "output"
    env = {**os.environ, "SHARDS": shards, "GITHUB_OUTPUT": str(output)}
    result = run_bash(script, tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert output.read_text(encoding="utf-8") == f"list={listed}\n"


@pytest.mark.skipif(os.name == "nt", reason="runs the step's bash script (POSIX bash)")
@pytest.mark.parametrize("shards", ["0", "x", "257"])
def test_the_plan_job_refuses_a_bad_shard_count(tmp_path: Path, shards: str) -> None:
    script = _step_script("contract.yml", "plan", "Shard numbers")
    env = {**os.environ, "SHARDS": shards, "GITHUB_OUTPUT": str(tmp_path / "output")}
    result = run_bash(script, tmp_path, env)
    assert result.returncode == 1
    assert f"shards: expected a whole number from 1 to 256, got '{shards}'" in result.stderr


@pytest.mark.skipif(os.name == "nt", reason="runs the step's bash script (POSIX bash)")
def test_shard_jobs_and_the_summary_give_one_table_of_every_case(tmp_path: Path) -> None:
    # What the workflow does with shards: 3: three check jobs, then the summary job.
    data = load_yaml(WORKFLOWS / "contract.yml")
    assert data["jobs"]["contract"]["strategy"]["matrix"]["shard"] == (
        "${{ fromJSON(needs.plan.outputs.shards) }}"
    )
    check_step = _step_script("contract.yml", "contract", "migration-harness check")
    reports = tmp_path / "reports"
    reports.mkdir()
    scripts = sysconfig.get_path("scripts")
    for index in (1, 2, 3):
        env = dict(os.environ)  # a copy for the child: os.environ itself is never changed
        env.update(
            SPEC=str(REFERENCE_SPEC),
            PYTEST_ARGS="--contract ahead idempotent revert",
            SHARD=f"{index}/3",
            REPORT=str(reports / f"report-ubuntu-latest-py3.12-shard{index}.json"),
            PATH=os.pathsep.join([scripts, env.get("PATH", "")]),
        )
        result = run_bash(check_step, tmp_path, env)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr
        assert f"shard {index}/3" in result.stdout.splitlines()[0]
    step_summary = tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(step_summary)}
    env["PATH"] = os.pathsep.join([scripts, env.get("PATH", "")])
    summary = _step_script("contract.yml", "summary", "Contract x OS table")
    result = run_bash(summary, tmp_path, env)
    assert result.returncode == 0, result.stderr
    table = step_summary.read_text(encoding="utf-8")
    for row in ("| `idempotent` | ✅ 1/1 |", "| `revert` | ✅ 3/3 |", "| `ahead` | ✅ 1/1 |"):
        assert row in table, table
    assert "**5 passed, 0 failed, 0 skipped** in 3 report(s)." in table


@pytest.mark.parametrize(("workflow", "job"), [("ci.yml", "tests"), ("release.yml", "test-wheel")])
def test_linux_test_jobs_install_the_database_servers_before_the_suite(
    workflow: str, job: str
) -> None:
    steps = load_yaml(WORKFLOWS / workflow)["jobs"][job]["steps"]
    runs = [str(step.get("run", "")) for step in steps]
    servers = next(i for i, run in enumerate(runs) if "bash .ci/servers" in run)
    assert steps[servers]["if"] == "runner.os == 'Linux'"
    suite = next(i for i, run in enumerate(runs) if "nox -s tests" in run or "pytest" in run)
    assert servers < suite
    assert "bash .ci/servers" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script for Linux runners")
def test_the_servers_script_says_why_it_does_nothing_without_apt(tmp_path: Path) -> None:
    bash, uname = shutil.which("bash"), shutil.which("uname")
    if bash is None or uname is None:
        pytest.skip("bash or uname is missing")
    for tool in (bash, uname):
        (tmp_path / Path(tool).name).symlink_to(tool)
    done = sub.run(
        [bash, str(ROOT / ".ci" / "servers")],
        env={"PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("servers: no apt-get here"), done.stdout
