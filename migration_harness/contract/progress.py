"""A long case's progress as plain lines: the first at once, then one every
:data:`PROGRESS_EVERY_S` per case, so a log never sits silent for a minute and never
fills with a line per crash point.

`check`'s reporter draws a live line instead when it writes to a terminal; its
parallel workers (and the plugin's ``--mh-progress``) write these lines to stderr.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any

import pytest

#: How often a long case's progress is printed as a line of its own.
PROGRESS_EVERY_S = 15.0


@dataclass
class ProgressLines:
    out: IO[str]
    started: float = field(default_factory=time.monotonic)
    every_s: float = PROGRESS_EVERY_S
    _shown: dict[str, float] = field(default_factory=dict)  # case -> when, last

    def show(self, case: str, text: str) -> None:
        now = time.monotonic()
        last = self._shown.get(case)
        if last is None or now - last >= self.every_s:
            self._shown[case] = now
            print(f"  {case}: {text} ({now - self.started:.0f}s into the run)", file=self.out)
            self.out.flush()


def uncaptured(config: pytest.Config, lines: ProgressLines) -> Any:
    """``show(case, text)`` for a case that runs while pytest captures its output: the
    line goes out with capture suspended, to where the session's stderr really points."""
    capture = config.pluginmanager.get_plugin("capturemanager")

    def show(case: str, text: str) -> None:
        suspended = capture.global_and_fixture_disabled() if capture else None
        with suspended or contextlib.nullcontext():
            lines.out = sys.stderr  # the real stream again, while capture is suspended
            lines.show(case, text)

    return show
