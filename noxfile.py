"""Sessions: tests, check (the contract against the reference tool), lint, typecheck.

Every session installs what it needs, so nox is the only prerequisite.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

# Per-test bound so a wedged test fails with a traceback instead of hanging CI.
TEST_TIMEOUT_S = "300"


@nox.session
def tests(session: nox.Session) -> None:
    """Run the project's own test suite in parallel and in random order."""
    session.install("-e", ".[test]")
    args = session.posargs or ["-n", "auto"]
    session.run("pytest", "tests", f"--timeout={TEST_TIMEOUT_S}", *args)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the importable package."""
    session.install("-e", ".", "mypy>=1.10", "types-psutil")
    session.run("mypy", "harness")
