"""Barrier launcher, run as a script: ``python -I -S _launcher.py PORT INDEX -- COMMAND...``.

It connects to the parent's localhost socket, says which command it is, and
blocks until the parent sends one byte to every launcher at once. Then it
reports the moment it was released and becomes the command: ``os.execv`` on
POSIX (same pid, so the harness tracks the real process), spawn-and-wait with
the exit code forwarded on Windows (where ``execv`` would change the pid).

Standard library only, imported by nothing: it must start fast and work in any
environment the command is given.
"""

from __future__ import annotations

import os
import socket
import sys
import time

GO = b"G"
EXIT_BARRIER_BROKEN = 125
EXIT_NOT_FOUND = 127


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: _launcher.py PORT INDEX -- COMMAND...\n")
        return 2
    port, index, command = int(argv[0]), argv[1], argv[3:]
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"{index}\n".encode())
    if sock.recv(1) != GO:
        sys.stderr.write("barrier launcher: the parent went away before the release\n")
        return EXIT_BARRIER_BROKEN
    released = time.time()
    sock.sendall(f"{released!r}\n".encode())
    sock.close()
    return become(command)


def become(command: list[str]) -> int:
    if os.name != "posix":
        import subprocess

        return subprocess.call(command)
    try:
        os.execv(command[0], command)
    except OSError as exc:
        sys.stderr.write(f"barrier launcher: cannot run {command[0]!r}: {exc}\n")
    return EXIT_NOT_FOUND


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
