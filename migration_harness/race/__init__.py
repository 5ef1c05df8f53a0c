"""How ``concurrent`` runs its racers: as they are, or slowed down in the repo so that
their unguarded steps overlap.

Released through one barrier, N migrators still start apart by the time their
interpreters take to come up (tens to hundreds of milliseconds on a busy machine),
while a quick tool reads its version and writes the next one within a few
milliseconds: racers without a lock mostly run one after the other and the race
is found by luck. Where strace runs (Linux), each racer runs under ``strace -f``
with a short delay after every call it makes on the repo's files (paths learnt from
one traced migration first), so the time between reading the repo and writing it
grows well past the start-up spread, while the start-up itself (imports, outside
the repo) keeps its speed. A tool that takes a lock only waits longer for it.

Use :func:`delays_unavailable_reason`, then :func:`plan_delays`; :data:`PLAIN` races
the commands as they are.
"""

from migration_harness.race._racing import PLAIN, DelaysUnavailable, Racing
from migration_harness.race._strace import delays_unavailable_reason, plan_delays

__all__ = ["PLAIN", "DelaysUnavailable", "Racing", "delays_unavailable_reason", "plan_delays"]
