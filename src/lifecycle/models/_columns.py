"""Column types of the tables beyond SQLAlchemy's own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Dialect
from sqlalchemy.types import TypeDecorator


class StoredPlan(TypeDecorator[dict[str, Any]]):
    """JSON whose equal stored texts read back as the one same mapping.

    A process's plan never changes after its start, and the processes of a plan share one
    text; read back as the same object, ``plan_types.plan_of`` parses it into a typed plan
    once per text instead of once per read (a decide or complete read it on every call). The
    mapping is shared: nothing may change it in place. A value the driver has decoded itself
    passes through as with plain JSON (each read a new mapping).
    """

    impl = JSON
    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        decode = super().result_processor(dialect, coltype)
        if decode is None:  # the driver decodes: nothing to share
            return None
        seen: dict[str, Any] = {}

        def process(value: Any) -> Any:
            if not isinstance(value, str):
                return decode(value)
            found = seen.get(value)
            if found is None:
                if len(seen) >= 64:  # distinct plans are few; a bound all the same
                    seen.clear()
                found = seen[value] = decode(value)
            return found

        return process
