"""One Prefect test server per test session, shared by the flow tests.

``prefect_test_harness`` starts a real server (uvicorn in a subprocess, temporary SQLite);
subprocesses of the tests (``lifecycle serve``, the demo) reach it through its URL. At the
end the log and event workers are drained first: without that, exit hangs for ~75 s.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

_stack: ExitStack | None = None
_url: str | None = None


def _drain_workers() -> None:
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        # best effort: the server goes away next anyway
        with contextlib.suppress(Exception):
            worker.drain_all(timeout=5)


def _close() -> None:
    global _stack, _url
    if _stack is not None:
        _drain_workers()
        _stack.close()
    _stack, _url = None, None


def server_url(request: pytest.FixtureRequest) -> str:
    """Start the session's test server once; later callers get the same URL."""
    global _stack, _url
    if _url is not None:
        return _url
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from lifecycle.flows.common import quiet_settings

    _stack = ExitStack()
    _stack.enter_context(prefect_test_harness(server_startup_timeout=60))
    _stack.enter_context(temporary_settings(quiet_settings()))
    _url = PREFECT_API_URL.value()
    request.session.config.add_cleanup(_close)
    return _url


def subprocess_env(url: str, **extra: str) -> dict[str, str]:
    """Environment for a subprocess that talks to the test server."""
    env = dict(os.environ)
    env.update({
        "PREFECT_API_URL": url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PYTHONUNBUFFERED": "1",
    })  # fmt: skip
    env.update(extra)
    return env


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60, every: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(every)
