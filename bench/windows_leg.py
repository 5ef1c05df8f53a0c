"""``windows_leg_min``: CI's Windows leg, ``nox -s windows``, end to end, in minutes.

Opt-in (``python -m bench.run --only windows_leg``): on Linux it runs the suite and the
contract under Wine, which takes minutes. The session runs as CI runs it, reusing its
virtualenv and the cached Windows environment (point ``MIGRATION_HARNESS_WINDOWS_CACHE``
at an empty directory to time provisioning from scratch too). The detail splits the wall
time into the session's phases: every ``nox > <command>`` line starts one, and the
provisioning each phase did is read from its ``Windows Python ready in N s`` line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import Measured, Settings

__all__ = ["describe_phases", "measure_windows_leg", "split_phases"]

REPO_ROOT = Path(__file__).resolve().parent.parent
_NOT_A_PHASE = ("nox > Running session ", "nox > Session ")
_READY = re.compile(r"Windows Python ready in ([0-9.]+) s")
_SUMMARY = re.compile(r"^=+ (.* in [0-9.]+s.*?) =+$|^(check: [A-Z]+: .*)$")


def split_phases(lines: list[tuple[float, str]]) -> list[dict[str, object]]:
    """Phases of a nox session's output, given (seconds since start, line) pairs: one per
    ``nox > `` command line, with its duration, provisioning seconds and summary line."""
    phases: list[dict[str, object]] = []
    for at, line in lines:
        if line.startswith("nox > ") and not line.startswith(_NOT_A_PHASE):
            phases.append({"command": line[len("nox > ") :], "start_s": at, "seconds": 0.0})
        elif phases:
            ready = _READY.search(line)
            if ready:
                phases[-1]["provision_s"] = float(ready.group(1))
            summary = _SUMMARY.match(line.strip())
            if summary:
                phases[-1]["summary"] = summary.group(1) or summary.group(2)
    ends = [float(str(p["start_s"])) for p in phases[1:]] + [lines[-1][0] if lines else 0.0]
    for phase, end in zip(phases, ends, strict=True):
        phase["seconds"] = round(end - float(str(phase["start_s"])), 1)
    return phases


def _label(command: str) -> str:
    """``migration-harness windows --pytest``, ``migration-harness windows check``, ..."""
    return " ".join(command.split()[:3])


def describe_phases(phases: list[dict[str, object]]) -> str:
    """One line: each phase that took time or printed a summary (the main job runs
    beside the suite, so its summary comes with the short phase that shows its output)."""
    parts = []
    for phase in phases:
        summary = phase.get("summary")
        if not summary and float(str(phase["seconds"])) < 1.0:
            continue
        label = f"{phase['seconds']} s {_label(str(phase['command']))}"
        parts.append(f"{label} [{summary}]" if summary else label)
    return "; ".join(parts)


def _nox_command() -> list[str] | None:
    found = shutil.which("nox")
    if found:
        return [found]
    try:
        import nox  # noqa: F401  (only: is it installed here?)
    except ImportError:
        return None
    return [sys.executable, "-m", "nox"]


def measure_windows_leg(settings: Settings) -> Measured:
    out = Measured()
    nox = _nox_command()
    if nox is None:
        out.values["windows_leg_min"] = None
        out.skipped["windows_leg_min"] = "nox is not installed (pip install nox)"
        return out
    command = [*nox, "-R", "-s", "windows"]  # -R: reuse the session's virtualenv
    print(f"bench: {' '.join(command)} (minutes under Wine)", flush=True)
    started = time.perf_counter()
    lines: list[tuple[float, str]] = []
    with subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)  # the session's own progress, as it goes
            lines.append((time.perf_counter() - started, line.rstrip("\n")))
        returncode = proc.wait()
    wall = time.perf_counter() - started
    if returncode != 0:
        tail = "\n".join(line for _, line in lines[-30:])
        raise RuntimeError(f"nox -s windows exited {returncode}:\n{tail}")
    phases = split_phases(lines)
    out.values["windows_leg_min"] = wall / 60
    out.extra["windows_leg_s"] = round(wall, 1)
    out.extra["windows_leg_phases"] = phases
    out.notes["windows_leg_min"] = (
        f"{wall:.0f} s: {describe_phases(phases)} ({settings.python} on {sys.platform})"
    )
    return out
