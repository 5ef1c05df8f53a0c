"""Where the harness comes from: the one spelling of its home, and the commit ``--version``
reports (looked up only when asked for)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import migration_harness
from migration_harness import __version__
from migration_harness.mockbin import build_mock
from migration_harness.origin import HOME, Origin, git_requirement, home_url, workflow_ref
from tests import sub
from tests.checkout import git_head

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(migration_harness.__file__).resolve().parent
FROM_CHECKOUT = PACKAGE.parent == ROOT and (ROOT / ".git").exists()
ORIGIN_MODULE = "migration_harness/origin.py"
TIMEOUT_S = 60
PRINT_VERSION = "from migration_harness.cli import main; main(['--version'])"

# Every way the repository names a GitHub repository of its own.
REPO_MENTION = re.compile(
    r"github\.com/(?P<a>[\w.-]+/[\w.-]+?)(?:\.git)?(?=[/@\"'`)\s]|$)"
    r"|(?P<b>[\w.-]+/[\w.-]+)/\.github/workflows/",
    re.MULTILINE,
)
THIRD_PARTY = re.compile(r"^(actions|pypa)/")


def repository_files(root: Path) -> list[Path]:
    """Tracked and new (not ignored) files of the checkout."""
    listed = sub.run(
        ["git", "-C", str(root), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=True,
    )
    return [root / name for name in listed.stdout.split("\0") if name]


def home_spellings(root: Path, files: list[Path]) -> list[str]:
    """``path: what`` for every mention of a home other than ``HOME``, and every literal
    ``HOME`` in Python code outside the origin module."""
    bad = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        for match in REPO_MENTION.finditer(text):
            repo = match.group("a") or match.group("b")
            if repo != HOME and not THIRD_PARTY.match(repo):
                bad.append(f"{rel}: {repo}")
        if rel.endswith(".py") and rel != ORIGIN_MODULE and HOME in text:
            bad.append(f"{rel}: spells {HOME!r}; use migration_harness.origin.HOME")
    return bad


def needs_git_checkout() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout of the project")


def test_home_is_set_in_one_place() -> None:
    needs_git_checkout()
    files = repository_files(ROOT)
    assert any(p.name == "README.md" for p in files)
    assert home_spellings(ROOT, files) == [], (
        f"every mention of the project's repository must be {HOME!r} "
        "(migration_harness/origin.py sets it)"
    )


def test_home_check_catches_another_spelling(tmp_path: Path) -> None:
    other = "/".join(("old", "home"))  # joined, so this file itself spells no other home
    files = {
        "README.md": f"pip install 'migration-harness @ git+https://github.com/{other}@abc'\n",
        "ci.yml": f"uses: {other}/.github/workflows/contract.yml@abc\n",
        "tool.py": f'REPO = "{HOME}"\n',
        "fine.md": f"{home_url()} and {workflow_ref('v1')}, actions/checkout@abc\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    found = home_spellings(tmp_path, sorted(tmp_path.iterdir(), key=lambda p: p.name))
    assert found == [
        f"README.md: {other}",
        f"ci.yml: {other}",
        f"tool.py: spells {HOME!r}; use migration_harness.origin.HOME",
    ]


def test_requirement_and_workflow_ref_name_the_home() -> None:
    commit = "0" * 40
    assert git_requirement(commit) == f"migration-harness @ git+https://github.com/{HOME}@{commit}"
    assert workflow_ref(commit) == f"{HOME}/.github/workflows/contract.yml@{commit}"


def test_describe() -> None:
    assert Origin(None).describe() == __version__
    assert Origin("ab" * 20).describe() == f"{__version__} (commit {'ab' * 20})"
    dirty = Origin("ab" * 20, dirty=True).describe()
    assert dirty == f"{__version__} (commit {'ab' * 20}, with uncommitted changes)"


def run_python(code: str, path_dirs: list[Path]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)  # a copy for the child: os.environ itself is never changed
    env["PATH"] = os.pathsep.join([*map(str, path_dirs), env.get("PATH", "")])
    # The child imports the package this process imported (an embedded Python, as on the
    # Windows leg, would otherwise find its installed copy first).
    code = f"import sys; sys.path.insert(0, {str(PACKAGE.parent)!r})\n{code}"
    return sub.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


@pytest.mark.skipif(not FROM_CHECKOUT, reason="the package is not imported from a checkout")
def test_version_from_a_checkout_is_its_head() -> None:
    if shutil.which("git") is None:
        pytest.skip("needs git on PATH")
    head = git_head(ROOT)
    assert head is not None
    done = run_python(PRINT_VERSION, [])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"migration-harness {__version__} (commit {head}")


@pytest.mark.skipif(not FROM_CHECKOUT, reason="the package is not imported from a checkout")
def test_git_runs_for_version_only(tmp_path: Path) -> None:
    fake = "f" * 40
    git = build_mock(tmp_path / "bin", "git", {"exit_code": 0, "stdout": fake + "\n"})
    imports = (
        "import migration_harness, migration_harness.plugin, migration_harness.scaffold\n"
        "from migration_harness.cli import build_parser\n"
        "build_parser().parse_args(['summary', 'x.json'])\n"
    )
    done = run_python(imports, [git.directory])
    assert done.returncode == 0, done.stderr
    assert git.calls() == []
    done = run_python(
        "from migration_harness.cli import main; main(['--version'])", [git.directory]
    )
    assert done.returncode == 0, done.stderr
    # The mock answers every call with a line, so the tree looks changed too.
    assert done.stdout.strip() == (
        f"migration-harness {__version__} (commit {fake}, with uncommitted changes)"
    )
    assert [call.args[2] for call in git.calls()] == ["rev-parse", "status"]


def test_readme_first_install_command_is_the_repository_at_a_commit() -> None:
    """No release is on the package index yet: the README's first install line must be the
    source that works today, the same requirement `init` writes (and
    test_workflows runs against a local copy)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Installing\n", 1)[1].split("\n## ", 1)[0]
    first_block = section.split("```\n", 2)[1]
    first_command = first_block.splitlines()[0]
    assert first_command == f'python -m pip install "{git_requirement("<commit>")}"'
    assert "python -m pip install migration-harness==<version>" in section
