"""The run's marker and whether a guardian is wanted: the two things the pytest plugin
sets when a session starts.

Kept apart from the tracking (:mod:`migration_harness.proc._track`) so that a session
that never starts a process, which is most sessions of a virtualenv that merely has the
package installed, never imports the tracking machinery.
"""

from __future__ import annotations

import os

#: The environment variable that marks every process started here and its descendants.
MARKER_ENV = "MIGRATION_HARNESS_PROC"
#: This interpreter's part of the marker: unique per run, so runs never see each other's.
RUN_TOKEN = f"{os.getpid()}-{os.urandom(4).hex()}"

_guardian_wanted = False


def want_guardian() -> None:
    """Ask for a guardian process, started with the first tracked process."""
    global _guardian_wanted
    _guardian_wanted = True


def guardian_wanted() -> bool:
    return _guardian_wanted
