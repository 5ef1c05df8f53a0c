"""Mutants: the reference tool with one deliberate defect each.

Selected by the environment variable ``REFREPO_MUTANT=<name>``. They prove that
every contract item can fail: ``CATCHERS`` names the contract ids expected to
catch each one. Only ``migrate`` (and its external steps) carries the defects;
``init``, ``stamp``, ``dump`` and the daemon stay correct so that a contract
fails because of the migration, not because its setup broke.
"""

from __future__ import annotations

from collections.abc import Mapping

from migration_harness.reference.errors import RefError

MUTANT_ENV = "REFREPO_MUTANT"

# name -> one-line description, in listing order.
MUTANTS: dict[str, str] = {
    "inplace-config": "rewrites the config in place, empty while a step moves the data",
    "no-lock": "takes no repo lock at all",
    "open-handle-rename": "replaces the config while holding it open (fails on Windows only)",
    "drop-backup": "deletes each config backup after a successful step",
    "version-first": "writes the new version before migrating the data",
    "ahead-downgrade": "rewrites a repo newer than it knows down to its own latest",
    "double-lock": "takes the repo lock a second time in the same process",
    "parent-path": "finds external steps in its own interpreter's scripts dir, not on its PATH",
    "temp-litter": "leaves a copy of its config temp file behind after success",
    "no-tombstone": "does not tombstone blocks/ after moving the data to store.db",
    "file-exists-lock": "locks by creating repo.lock (O_EXCL): a stale lock is never cleared",
    "give-up-early": "under lock contention retries 3 times (10/20/40 ms) and then fails",
    "no-rollback": "leaves a step that failed half done instead of undoing it",
}

# name -> the contract ids expected to catch it (on every OS unless the description says otherwise).
CATCHERS: dict[str, tuple[str, ...]] = {
    "inplace-config": ("crash",),
    "no-lock": ("lock-held", "concurrent"),
    "open-handle-rename": ("forward",),  # Windows only: POSIX allows the replace
    "drop-backup": ("backups",),
    "version-first": ("crash",),
    "ahead-downgrade": ("ahead",),
    "double-lock": ("forward",),
    "parent-path": ("external",),
    "temp-litter": ("no-litter",),
    "no-tombstone": ("tombstone",),
    "file-exists-lock": ("stale-lock",),
    "give-up-early": ("concurrent", "lock-held"),
    "no-rollback": ("backups",),
}

# Mutants whose defect only shows on some platforms (sys.platform prefixes).
ONLY_ON: dict[str, tuple[str, ...]] = {"open-handle-rename": ("win32",)}


def active_mutant(environ: Mapping[str, str]) -> str | None:
    """The mutant selected by ``REFREPO_MUTANT``, or None; an unknown name is an error."""
    name = environ.get(MUTANT_ENV, "").strip()
    if not name:
        return None
    if name not in MUTANTS:
        known = ", ".join(MUTANTS)
        raise RefError(f"unknown {MUTANT_ENV}={name!r} (known mutants: {known})")
    return name
