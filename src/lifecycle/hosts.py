"""Whether a host name from a setting or an address can be connected to at all.

Python checks a name only when it connects (the IDNA codec), and says so with a UnicodeError
that no caller expects. Checked here first: an IP address, or a name whose parts are 1 to 63
characters (non-ASCII through IDNA) of letters, digits, '-' and '_', at most 253 in all.
"""

from __future__ import annotations

import ipaddress
import re

from .words import quoted

_NAME = re.compile(r"[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*\.?")


def host_problem(host: str) -> str | None:
    """Why ``host`` is no usable host name or IP address (German), else None."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return None
    except ValueError:
        pass
    try:
        name = host.encode("idna").decode("ascii")
    except UnicodeError:
        return (f"Rechnername {quoted(host)} ungültig (ein Namensteil ist leer oder länger "
                "als 63 Zeichen)")
    if not _NAME.fullmatch(name):
        return f"Rechnername {quoted(host)} enthält unzulässige Zeichen oder leere Namensteile"
    if len(name) > 253:
        return f"Rechnername länger als 253 Zeichen ({len(name)})"
    return None


def ascii_host(host: str) -> str:
    """``host`` as it goes on the wire (IDNA); call host_problem first."""
    return host if host.isascii() else host.encode("idna").decode("ascii")
