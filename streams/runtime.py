"""Process-wide tuning shared by the worker and ``vigil replay``.

The engine makes many short-lived containers per event (decoded JSON, features, decision
tuples); with CPython's default thresholds the cyclic garbage collector runs every 700
allocations and scans them, about a fifth of the engine's time in a replay (measured in
issue #5). Reference counting frees them anyway: the entity states, the model and the
monitors hold no cycles that need the collector soon. So after start-up, what is alive
is frozen out of the collector's scans and the young generation is collected ten times
less often.

>>> import gc
>>> before = gc.get_threshold()
>>> relax_garbage_collector()
>>> gc.get_threshold()
(50000, 50, 100)
>>> gc.unfreeze(); gc.set_threshold(*before)
"""

from __future__ import annotations

import gc

__all__ = ["relax_garbage_collector"]


def relax_garbage_collector() -> None:
    """Freeze what start-up allocated and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
