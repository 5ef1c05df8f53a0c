"""The servers of one run, started once and shared by its processes and threads.

A contract run needs one server per engine: every case's databases live on it, and the
repos created once per run are copied between the cases of different pytest-xdist
workers. The process that starts the run (``migration-harness check``) starts the
server and announces it in the environment its workers inherit; a worker attaches to
the announced server, and a run without an announcement (a plain ``pytest`` session)
starts its own on first use and stops it at the end.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager

from migration_harness.databases._api import Server, attach, start_server

#: The announced servers: JSON, ``{"<engine> <bindir>": Server.describe()}``.
ANNOUNCE_ENV = "MIGRATION_HARNESS_DATABASE_SERVERS"


def _key(engine: str, bindir: str | None) -> str:
    return f"{engine} {bindir or ''}"


class SharedServers:
    """One server per (engine, bindir) for this process: announced, else started here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: dict[str, Server] = {}

    def get(self, engine: str, bindir: str | None = None) -> Server:
        key = _key(engine, bindir)
        with self._lock:
            server = self._servers.get(key)
            if server is None:
                announced = json.loads(os.environ.get(ANNOUNCE_ENV) or "{}")
                if key in announced:
                    server = attach(announced[key])
                else:
                    from migration_harness.proc._track import owned_by

                    # The run's, not the leftovers of the case that happened to ask first.
                    with owned_by(f"the run's {engine} server"):
                        server = start_server(engine, bindir=bindir)
                self._servers[key] = server
            return server

    def stop_all(self) -> None:
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.stop()


SERVERS = SharedServers()


@contextmanager
def announced(
    wanted: list[tuple[str, str | None]], environ: MutableMapping[str, str]
) -> Iterator[None]:
    """Start the ``(engine, bindir)`` servers, announce them in ``environ`` (the run's own
    environment, which its workers inherit) for the duration, then stop them."""
    saved = environ.get(ANNOUNCE_ENV)
    started: dict[str, Server] = {}
    try:
        for engine, bindir in wanted:
            started[_key(engine, bindir)] = start_server(engine, bindir=bindir)
        environ[ANNOUNCE_ENV] = json.dumps({k: s.describe() for k, s in started.items()})
        yield
    finally:
        if saved is None:
            environ.pop(ANNOUNCE_ENV, None)
        else:
            environ[ANNOUNCE_ENV] = saved
        for server in started.values():
            server.stop()
