"""lifecycle: the process engine for the Fortschreibung of municipal concepts.

The public API is small; modules load on first use so `lifecycle status` stays fast::

    from lifecycle import load_scenario, session_scope, start, decide_gate
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "start": "lifecycle.engine",
    "complete_task": "lifecycle.engine",
    "reassign_task": "lifecycle.engine",
    "decide_gate": "lifecycle.engine",
    "move_sitzung": "lifecycle.engine",
    "set_closing_days": "lifecycle.engine",
    "recompute_all": "lifecycle.engine",
    "load_plan": "lifecycle.plan",
    "load_scenario": "lifecycle.scenario",
    "session_scope": "lifecycle.db",
    "process_status": "lifecycle.status",
    "InputError": "lifecycle.errors",
    "Refused": "lifecycle.errors",
    "LifecycleError": "lifecycle.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lifecycle' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
