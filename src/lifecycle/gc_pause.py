"""Pausing Python's cyclic garbage collector around short bursts of allocation.

The collector's full passes trace every object of the process. Where a burst builds many
objects and frees none of them in cycles (an import of the ORM and pydantic, a reminder scan),
those passes are pure cost; reference counting still frees what is dropped.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """The collector paused for the block, resumed after it (if it was on)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
