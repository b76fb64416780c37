"""Say only what changed: one alert when a condition starts, then escalation or all-clear.

A drift that lasts would otherwise raise an alert at every check. :class:`AlertGate`
remembers the level last reported per key (a kind with a feature or an entity) and
lets an alert through only when the level changes. Its keys are bounded: past
``max_keys``, the keys least recently raised are forgotten first.

Examples
--------
>>> gate = AlertGate()
>>> [gate.change(("data_drift", "amount"), level) for level in
...  ["clear", "warning", "warning", "critical", "warning", "clear", "clear"]]
[None, 'warning', None, 'critical', None, 'clear', None]
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Literal

__all__ = ["AlertGate", "Level"]

Level = Literal["clear", "warning", "critical"]
_RANK = {"clear": 0, "warning": 1, "critical": 2}


class AlertGate:
    """Per key, the level last reported; :meth:`change` says when to report a new one.

    Escalation (warning → critical) and all-clear (→ clear) are reported; a drop from
    critical to warning is not (the drift has not ended), nor is a level repeated.
    """

    def __init__(self, *, max_keys: int = 4096) -> None:
        self.max_keys = max_keys
        self._levels: OrderedDict[Hashable, Level] = OrderedDict()

    def level(self, key: Hashable) -> Level:
        return self._levels.get(key, "clear")

    def change(self, key: Hashable, level: Level) -> Level | None:
        """Record ``level`` for ``key``; return it if it should be reported, else ``None``."""
        previous = self._levels.get(key, "clear")
        if level == "clear":
            self._levels.pop(key, None)
            return "clear" if previous != "clear" else None
        if _RANK[level] <= _RANK[previous]:
            return None
        self._levels[key] = level
        self._levels.move_to_end(key)
        while len(self._levels) > self.max_keys:
            self._levels.popitem(last=False)
        return level
