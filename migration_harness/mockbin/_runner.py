"""The body of every mock executable.

The mock itself is a three-line stub (a script on POSIX, a zipped
``__main__.py`` behind distlib's launcher on Windows) that puts this file's
directory at the end of ``sys.path`` and calls :func:`main`, so the code is
compiled once and cached instead of recompiled on every run.

It must start fast (a mock runs no slower than ``python -c pass``): it runs
with ``python -I -S`` and imports only builtin modules at start. The
behaviour lives beside the mock as ``<name>.mock.json`` (for people) and
``<name>.mock.marshal`` (the same data, read without importing ``json``,
which pulls in ``re`` and costs ~10 ms); a JSON file edited by hand after the
build is newer than the marshal copy and is then read with ``json``. Each run
appends exactly one JSON line to ``<name>.calls.jsonl``.
"""

from __future__ import annotations

import marshal
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SPEC_SUFFIX = ".mock.json"
FAST_SPEC_SUFFIX = ".mock.marshal"
LOG_SUFFIX = ".calls.jsonl"
IS_WINDOWS = os.name == "nt"
DEFAULT_LOG_ENV = ["PATH"]
MOCK_ERROR_EXIT = 2
PASSTHROUGH_NOT_FOUND_EXIT = 127


class MockFailure(Exception):
    """Stop the run: message to stderr, the given exit code, call still logged.

    Not a ``MigrationHarnessError``: this file runs inside the mock executable, where
    the package is not importable, and :func:`main` catches it before it could reach
    anyone's code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def locate() -> tuple[str, str]:
    """The mock's directory and name, from the path it was started by."""
    directory, base = os.path.split(os.path.abspath(sys.argv[0]))
    if base.lower().endswith(".exe"):
        base = base[:-4]
    return directory, base


def parse_flags(args: list[str]) -> dict[str, str]:
    """``-path=/x --revert`` -> ``{"path": "/x", "revert": ""}`` (dashes dropped)."""
    flags: dict[str, str] = {}
    for arg in args:
        if arg.startswith("-") and arg.strip("-"):
            name, sep, value = arg.lstrip("-").partition("=")
            flags[name] = value if sep else ""
    return flags


class Run:
    def __init__(self, spec: dict[str, Any], directory: str, name: str) -> None:
        self.start = time.time()
        self.directory = directory
        self.name = name
        self.args = sys.argv[1:]
        self.flags = parse_flags(self.args)
        for flag, override in spec.get("on_flag", {}).items():
            if flag.lstrip("-") in self.flags:
                spec.update(override)
        self.spec = spec
        self.cwd = os.getcwd()
        self.held_lock: str | None = None
        self.held_fd: int | None = None

    def expand(self, template: str, key: str) -> str:
        """Fill ``{args[0]}``, ``{flags[path]}``, ``{cwd}``, ``{name}``, ``{dir}``."""
        if "{" not in template:
            return template
        try:
            return template.format(
                args=self.args, flags=self.flags, cwd=self.cwd, name=self.name, dir=self.directory
            )
        except (KeyError, IndexError, ValueError) as exc:
            message = f"{self.name} (mock): {key}: cannot fill {template!r}: {exc!r} not given"
            raise MockFailure(message, MOCK_ERROR_EXIT) from None

    def log(self, exit_code: int) -> None:
        env = {
            k: os.environ[k] for k in self.spec.get("log_env", DEFAULT_LOG_ENV) if k in os.environ
        }
        call = {
            "argv": [self.name, *self.args],
            "cwd": self.cwd,
            "env": env,
            "pid": os.getpid(),
            "start": self.start,
            "end": time.time(),
            "exit_code": exit_code,
        }
        line = (to_json(call) + "\n").encode("ascii")
        append_line(os.path.join(self.directory, self.name + LOG_SUFFIX), line)

    def execute(self) -> int:
        spec = self.spec
        missing = [f for f in spec.get("require_flags", []) if f.lstrip("-") not in self.flags]
        if missing:
            code = int(spec.get("missing_flag_exit_code", MOCK_ERROR_EXIT))
            raise MockFailure(f"{self.name}: missing required flag(s): {', '.join(missing)}", code)
        if spec.get("passthrough"):
            return passthrough(self.directory, self.name, self.args)
        self.take_lock()
        for path, content in spec.get("write_files", {}).items():
            write_in_place(self.expand(path, "write_files"), content)
        for path, content in spec.get("replace_files", {}).items():
            replace_file(self.expand(path, "replace_files"), content)
        version = spec.get("version_file")
        if version:
            write_in_place(self.expand(version["path"], "version_file"), str(version["value"]))
        emit(sys.stdout, spec.get("stdout", ""))
        emit(sys.stderr, spec.get("stderr", ""))
        if spec.get("sleep"):
            time.sleep(float(spec["sleep"]))
        crash = spec.get("crash")
        if crash is not None and crash is not False:
            self.crash(crash)
        if self.held_lock is not None:
            os.remove(self.held_lock)
        return int(spec.get("exit_code", 0))

    def take_lock(self) -> None:
        lock = self.spec.get("lock_file")
        if not lock:
            return
        path = self.expand(lock["path"], "lock_file")
        if lock["action"] == "remove":
            if os.path.lexists(path):
                os.remove(path)
            return
        if lock.get("style", "exists") != "exists":
            self.take_kernel_lock(path, lock)
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            message = f"{self.name}: lock file {path} exists: another process holds the lock"
            raise MockFailure(message, int(lock.get("exists_exit_code", 1))) from None
        os.write(fd, str(os.getpid()).encode("ascii"))
        os.close(fd)
        if lock["action"] == "hold":
            self.held_lock = path

    def take_kernel_lock(self, path: str, lock: dict[str, Any]) -> None:
        """A lock the kernel holds for this process (flock, fcntl, LockFile): busy while
        another process holds it, free again when that one dies, whether or not the file
        is still there (a Go tool leaves its lock file behind). ``hold`` keeps it until
        the mock exits; ``create`` only checks that it can be taken."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _kernel_lock(fd, lock["style"])
        except OSError:
            os.close(fd)
            message = f"{self.name}: lock file {path} is locked by another process"
            raise MockFailure(message, int(lock.get("exists_exit_code", 1))) from None
        if lock["action"] == "hold":
            self.held_fd = fd  # released by the kernel when the mock exits or dies
        else:
            os.close(fd)

    def crash(self, how: object) -> None:
        """Die with no cleanup: held lock files and half-written files stay."""
        sys.stdout.flush()
        sys.stderr.flush()
        if how is True:
            import signal  # only now: crashing is rare, starting is not

            kill = getattr(signal, "SIGKILL", signal.SIGTERM)
            self.log(kill if IS_WINDOWS else -kill)
            os.kill(os.getpid(), kill)
            time.sleep(60)  # the signal is asynchronous; never fall through
        code = int(how)  # type: ignore[call-overload]
        self.log(code)
        os._exit(code)


def _kernel_lock(fd: int, style: str) -> None:
    """Take ``style`` on ``fd`` without waiting; OSError when another process holds it.

    Written here rather than imported from the package's lock styles: a mock runs with
    ``python -I -S`` and only builtin modules, to start as fast as ``python -c pass``."""
    if sys.platform == "win32":  # "windows" and "go-lockedfile" (validated at build time)
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        if style == "posix":
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # "flock", and "go-lockedfile": what Go's lockedfile takes here
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def emit(stream: Any, text: str) -> None:
    if text:
        stream.buffer.write(text.encode("utf-8"))
        stream.flush()


def write_in_place(path: str, content: str) -> None:
    with open(path, "wb") as f:
        f.write(content.encode("utf-8"))


def replace_file(path: str, content: str) -> None:
    """Write beside, then rename over: fails on Windows while the target is open."""
    temp = f"{path}.mock-{os.getpid()}.tmp"
    write_in_place(temp, content)
    os.replace(temp, path)


def append_line(log_path: str, line: bytes) -> None:
    """One write with O_APPEND, so concurrent runs never interleave lines.

    Windows' C runtime emulates O_APPEND with a seek, which races; there a
    byte-range lock on a sidecar file serialises the appends.
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
    if not IS_WINDOWS:
        fd = os.open(log_path, flags, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        return
    import msvcrt  # type: ignore[import-not-found,unused-ignore]

    lock_fd = os.open(log_path + ".lock", os.O_RDWR | os.O_CREAT | os.O_BINARY)  # type: ignore[attr-defined,unused-ignore]
    try:
        msvcrt.locking(lock_fd, msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined,unused-ignore]
        fd = os.open(log_path, flags, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        msvcrt.locking(lock_fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined,unused-ignore]
    finally:
        os.close(lock_fd)


def next_on_path(directory: str, name: str) -> str | None:
    """The next ``name`` on PATH after the mock's own directory (a spy's real target)."""
    own_dir = os.path.normcase(os.path.realpath(directory))
    entries = [e for e in os.environ.get("PATH", "").split(os.pathsep) if e]
    real = [os.path.normcase(os.path.realpath(e)) for e in entries]
    if own_dir in real:
        entries = entries[real.index(own_dir) + 1 :]
    exts = [""]
    if IS_WINDOWS:
        exts = [e for e in os.environ.get("PATHEXT", ".COM;.EXE;.BAT;.CMD").split(";") if e]
    for entry in entries:
        if os.path.normcase(os.path.realpath(entry)) == own_dir:
            continue
        for ext in exts:
            candidate = os.path.join(entry, name + ext)
            if os.path.isfile(candidate) and (IS_WINDOWS or os.access(candidate, os.X_OK)):
                return candidate
    return None


def passthrough(directory: str, name: str, args: list[str]) -> int:
    target = next_on_path(directory, name)
    if target is None:
        message = f"{name}: passthrough: no other {name!r} on PATH after {directory}"
        raise MockFailure(message, PASSTHROUGH_NOT_FOUND_EXIT)
    import subprocess  # only spies need it

    return subprocess.call([target, *args])


def load_spec(directory: str, name: str) -> dict[str, Any]:
    """The behaviour: the marshal copy unless the JSON file was edited after it."""
    json_path = os.path.join(directory, name + SPEC_SUFFIX)
    fast_path = os.path.join(directory, name + FAST_SPEC_SUFFIX)
    try:
        if os.stat(fast_path).st_mtime_ns >= os.stat(json_path).st_mtime_ns:
            with open(fast_path, "rb") as f:
                spec: dict[str, Any] = marshal.load(f)
                return spec
    except (OSError, EOFError, ValueError, TypeError):
        pass
    import json  # slow path: only for a hand-edited behaviour file

    with open(json_path, "rb") as f:
        loaded: dict[str, Any] = json.load(f)
        return loaded


def to_json(value: object) -> str:
    """JSON for the log line's plain types, without importing ``json`` (and ``re``)."""
    if isinstance(value, str):
        return quote(value)
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{quote(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot log {type(value).__name__}")


def quote(text: str) -> str:
    try:
        from _json import encode_basestring_ascii  # C accelerator of the json module
    except ImportError:  # interpreters without it: correct, just slower
        import json

        return json.dumps(text, ensure_ascii=True)
    result: str = encode_basestring_ascii(text)
    return result


def main() -> int:
    directory, name = locate()
    try:
        spec = load_spec(directory, name)
    except (OSError, ValueError) as exc:
        spec_path = os.path.join(directory, name + SPEC_SUFFIX)
        sys.stderr.write(f"{name} (mock): cannot read behaviour file {spec_path}: {exc}\n")
        return MOCK_ERROR_EXIT
    run = Run(spec, directory, name)
    try:
        code = run.execute()
    except MockFailure as exc:
        emit(sys.stderr, f"{exc}\n")
        code = exc.code
    except OSError as exc:
        emit(sys.stderr, f"{name} (mock): {exc}\n")
        code = MOCK_ERROR_EXIT
    run.log(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
