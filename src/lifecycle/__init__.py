"""lifecycle: the process engine for the Fortschreibung of municipal concepts.

The public API is small; modules load on first use so `lifecycle status` stays fast::

    from lifecycle import load_scenario, session_scope, start, decide_gate
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "start": "lifecycle.services",
    "complete_task": "lifecycle.services",
    "reassign_task": "lifecycle.services",
    "decide_gate": "lifecycle.services",
    "move_sitzung": "lifecycle.services",
    "set_closing_days": "lifecycle.services",
    "recompute_all": "lifecycle.services",
    "generate_document": "lifecycle.services",
    "run_reminders": "lifecycle.services",
    "load_plan": "lifecycle.plan",
    "load_scenario": "lifecycle.scenario",
    "session_scope": "lifecycle.db",
    "process_status": "lifecycle.status",
    "InputError": "lifecycle.errors",
    "NotFound": "lifecycle.errors",
    "Refused": "lifecycle.errors",
    "NeedsReason": "lifecycle.errors",
    "Forbidden": "lifecycle.errors",
    "Unavailable": "lifecycle.errors",
    "LifecycleError": "lifecycle.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lifecycle' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
