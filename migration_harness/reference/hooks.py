"""Checkpoints: the cooperative crash and failure hooks of the migration-harness protocol.

A migration counts its file-system mutations from 1. At checkpoint n equal to
``MIGRATION_HARNESS_CRASH_AT`` the process dies on the spot (``os._exit(86)``: no
cleanup, no ``finally``), which is what a power cut or ``kill -9`` looks like to
the repo. At n equal to ``MIGRATION_HARNESS_FAIL_AT`` it raises instead, so the
normal error path (rollback, restore from backup) runs.

The reference tool defines these names itself instead of importing them from
``migration_harness.crash``: it is the model a downstream tool copies, and such a tool
does not import the harness.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from migration_harness.reference.errors import InjectedFailure, RefError

CRASH_ENV = "MIGRATION_HARNESS_CRASH_AT"
FAIL_ENV = "MIGRATION_HARNESS_FAIL_AT"
CRASH_EXIT_CODE = 86
# External steps run in their own process; the parent passes its count so that
# checkpoint numbers keep counting across processes, and the step prints its
# final count on stdout (REPORT_PREFIX) for the parent to carry on from.
BASE_ENV = "REFREPO_CHECKPOINT_BASE"
REPORT_PREFIX = "refrepo-checkpoints: "
# Debug aid (and what the tests use to count checkpoints): one stderr line per checkpoint.
TRACE_ENV = "REFREPO_TRACE_CHECKPOINTS"


def _int_from_env(environ: Mapping[str, str], name: str) -> int | None:
    text = environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise RefError(f"environment variable {name}={text!r} is not an integer") from None
    if value < 0:
        raise RefError(f"environment variable {name}={text!r} must not be negative")
    return value


class Checkpoints:
    """Counts checkpoints and fires the crash or failure hook at the requested one."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.count = _int_from_env(environ, BASE_ENV) or 0
        self.crash_at = _int_from_env(environ, CRASH_ENV)
        self.fail_at = _int_from_env(environ, FAIL_ENV)
        self.trace = environ.get(TRACE_ENV, "") not in ("", "0")
        self._suspended = 0

    @classmethod
    def disabled(cls) -> Checkpoints:
        """Checkpoints that never fire (``init``, ``stamp``, rollbacks)."""
        return cls({})

    def hit(self, what: str) -> None:
        """Record one file-system mutation; crash or fail here if the hooks ask for it."""
        if self._suspended:
            return
        self.count += 1
        if self.trace:
            print(f"checkpoint {self.count}: {what}", file=sys.stderr, flush=True)
        if self.count == self.crash_at:
            os._exit(CRASH_EXIT_CODE)
        if self.count == self.fail_at:
            raise InjectedFailure(self.count, what)

    @property
    def is_suspended(self) -> bool:
        return self._suspended > 0

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """No checkpoints inside: a rollback must not crash or fail a second time."""
        self._suspended += 1
        try:
            yield
        finally:
            self._suspended -= 1
