"""``go_build_ms``, ``go_build_ratio``: the benchmark mock as a Go program, built by ``go build``.

This is how kubo's test harness makes its mock migration binaries. The Go program
does what the Python mock does (print, append one JSON call-log line, exit 0).
Two figures, both honest: *cold* (a fresh GOCACHE per build, what a CI runner
without a cache pays) and *warm* (a shared cache, a changed source each time, so
only the package itself compiles and links). ``go_build_ms`` is the warm median,
the cheaper of the two, so ``go_build_ratio`` is the conservative comparison.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import Measured, Settings
from bench.stats import median, to_ms

__all__ = ["GO_SOURCE", "find_go", "measure_go_build"]

GO_SOURCE = """package main

import (
\t"encoding/json"
\t"fmt"
\t"os"
\t"path/filepath"
\t"time"
)

const variant = %d

func main() {
\tstart := float64(time.Now().UnixNano()) / 1e9
\tcwd, _ := os.Getwd()
\tfmt.Println("migrated")
\tself, _ := os.Executable()
\tentry := map[string]any{
\t\t"argv": os.Args, "cwd": cwd, "env": map[string]string{"PATH": os.Getenv("PATH")},
\t\t"pid": os.Getpid(), "start": start, "exit_code": 0, "variant": variant,
\t\t"end": float64(time.Now().UnixNano()) / 1e9,
\t}
\tline, _ := json.Marshal(entry)
\tlog := filepath.Join(filepath.Dir(self), filepath.Base(self)+".calls.jsonl")
\tf, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
\tif err == nil {
\t\tf.Write(append(line, '\\n'))
\t\tf.Close()
\t}
}
"""
BUILD_TIMEOUT_S = 600.0


def find_go() -> str | None:
    """``go`` on PATH, else Debian's golang-go location (not on PATH in some images)."""
    found = shutil.which("go")
    if found:
        return found
    if sys.platform == "win32":  # under Wine, Debian's Linux binary is visible but no .exe
        return None
    debian = Path("/usr/lib/go/bin/go")
    return str(debian) if debian.is_file() else None


def _go_env(cache: Path, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GOCACHE=str(cache),
        GOPATH=str(home / "gopath"),
        GO111MODULE="off",  # one file, no module: nothing is looked up or downloaded
        GOTOOLCHAIN="local",
        CGO_ENABLED="0",
    )
    return env


def _build_once(go: str, directory: Path, variant: int, cache: Path) -> float:
    directory.mkdir(parents=True, exist_ok=True)
    source = directory / "main.go"
    source.write_text(GO_SOURCE % variant, encoding="utf-8")
    output = directory / "fs-repo-1-to-2"
    started = time.perf_counter()
    done = subprocess.run(
        [go, "build", "-o", str(output), str(source)],
        cwd=directory,
        env=_go_env(cache, directory),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"go build failed in {directory}:\n{done.stderr.strip()}")
    check = subprocess.run([str(output)], capture_output=True, text=True, timeout=30)
    if check.stdout.strip() != "migrated":
        raise RuntimeError(f"the Go mock printed {check.stdout!r}, expected 'migrated'")
    return elapsed


def _go_version(go: str) -> str:
    done = subprocess.run([go, "version"], capture_output=True, text=True, timeout=60)
    return done.stdout.strip()


def measure_go_build(settings: Settings, mock_build_ms: float | None) -> Measured:
    out = Measured()
    go = find_go()
    if go is None:
        reason = (
            "go not found: install Debian's golang-go (`apt-get install golang-go`) or put "
            "`go` on PATH; `nox -s bench` installs it itself when run as root"
        )
        for key in ("go_build_ms", "go_build_ratio"):
            out.values[key] = None
            out.skipped[key] = reason
        return out
    root = settings.workdir / "go"
    cold_runs = settings.runs(3, 1)
    cold = [
        _build_once(go, root / f"cold{i}", i, root / f"cache-cold{i}") for i in range(cold_runs)
    ]
    warm_cache = root / "cache-warm"
    _build_once(go, root / "warm-up", 1000, warm_cache)  # fills the cache: not measured
    warm_runs = settings.runs(7, 2)
    warm = [_build_once(go, root / f"warm{i}", 1001 + i, warm_cache) for i in range(warm_runs)]
    out.values["go_build_ms"] = to_ms(median(warm))
    out.extra["go_build_cold_ms"] = to_ms(median(cold))
    out.extra["go_version"] = _go_version(go)
    if mock_build_ms:
        out.values["go_build_ratio"] = to_ms(median(warm)) / mock_build_ms
        out.extra["go_build_cold_ratio"] = to_ms(median(cold)) / mock_build_ms
    else:
        out.values["go_build_ratio"] = None
        out.skipped["go_build_ratio"] = "mock_build_ms was not measured"
    out.notes["go_build_ms"] = (
        f"warm cache, changed source per build (median of {warm_runs}); "
        f"cold cache: {to_ms(median(cold)):.0f} ms (median of {cold_runs})"
    )
    return out
