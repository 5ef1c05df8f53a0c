"""Benchmarks of migration-harness against its performance targets.

Run with ``nox -s bench`` (or ``python -m bench.run`` from the repository root in an
environment with the package installed). Nothing here runs in ``nox -s tests``: the
test suite imports only the light helpers (:mod:`bench.stats`, :mod:`bench.schema`).
"""
