"""OParl list pages: ``data``, ``pagination`` and ``links`` on every page, the last one too.

The filters ``created_since``, ``created_until``, ``modified_since``, ``modified_until`` (full
date-times with a zone), ``limit`` and ``omit_internal`` are applied and carried into every
link. Deleted objects (tombstones) appear only when ``modified_since`` is given, as the spec's
update mechanism asks.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from ..errors import InputError

PER_PAGE = 100
MAX_PER_PAGE = 1000
FILTERS = ("created_since", "created_until", "modified_since", "modified_until")
# The internal lists a client may ask to leave out (omit_internal=true), by type.
INTERNAL_LISTS = {
    "Meeting": ("agendaItem", "auxiliaryFile"),
    "Paper": ("auxiliaryFile", "location"),
    "AgendaItem": ("auxiliaryFile",),
    "Person": ("membership",),
    "Body": ("legislativeTerm",),
}


# A count in a query: ASCII digits (str.isdigit() also takes "²", which int() refuses), at
# most 18 of them (int() refuses more than 4300; a database integer holds 18).
_WHOLE = re.compile(r"[0-9]{1,18}")


def whole_number(text: str, name: str, problem: str) -> int:
    """``text`` as a whole number from 1; anything else is an InputError naming ``name``."""
    if not _WHOLE.fullmatch(text) or int(text) < 1:
        raise InputError(name, text[:40], problem)
    return int(text)


def parse_moment(value: str, name: str) -> dt.datetime:
    """A date-time with a zone (``+`` sent unencoded arrives as a space: taken back)."""
    text = value.strip().replace(" ", "+")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InputError(name, value, "erwartet Datum und Uhrzeit mit Zeitzone, "
                         "z. B. 2017-12-01T00:00:00+01:00")  # fmt: skip
    return moment


@dataclass(frozen=True)
class Filters:
    created_since: dt.datetime | None = None
    created_until: dt.datetime | None = None
    modified_since: dt.datetime | None = None
    modified_until: dt.datetime | None = None
    limit: int = PER_PAGE
    omit_internal: bool = False
    raw: tuple[tuple[str, str], ...] = ()  # the filters as given, for the links

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> Filters:
        moments = {name: parse_moment(query[name], name) for name in FILTERS if query.get(name)}
        limit = PER_PAGE
        if query.get("limit"):
            number = whole_number(query["limit"].strip(), "limit", "erwartet eine ganze Zahl ab 1")
            limit = min(number, MAX_PER_PAGE)
        omit = query.get("omit_internal", "").strip().lower() == "true"
        raw = tuple((name, query[name].strip().replace(" ", "+")) for name in FILTERS
                    if query.get(name))  # fmt: skip
        if query.get("limit"):
            raw += (("limit", str(limit)),)
        if omit:
            raw += (("omit_internal", "true"),)
        return cls(**moments, limit=limit, omit_internal=omit, raw=raw)

    def admits(self, obj: Mapping[str, Any]) -> bool:
        for name, bound in (("created", self.created_since), ("modified", self.modified_since)):
            if bound is not None and dt.datetime.fromisoformat(obj[name]) < bound:
                return False
        for name, bound in (("created", self.created_until), ("modified", self.modified_until)):
            if bound is not None and dt.datetime.fromisoformat(obj[name]) > bound:
                return False
        return True


def page_number(query: Mapping[str, str]) -> int:
    return whole_number((query.get("page") or "1").strip(), "page", "erwartet eine Seitenzahl ab 1")


def link(url: str, filters: Filters, page: int) -> str:
    params = list(filters.raw) + ([("page", str(page))] if page > 1 else [])
    return f"{url}?{urlencode(params)}" if params else url


def omit_internal(obj: dict[str, Any]) -> dict[str, Any]:
    drop = INTERNAL_LISTS.get(str(obj.get("type", "")).rsplit("/", 1)[-1], ())
    return {k: v for k, v in obj.items() if k not in drop} if drop else obj


def selected(items: Sequence[dict[str, Any]], tombstones: Sequence[dict[str, Any]],
             filters: Filters) -> list[dict[str, Any]]:  # fmt: skip
    """The objects of a list the filters admit, in a stable order (by id)."""
    shown = [o for o in items if filters.admits(o)]
    if filters.modified_since is not None:
        alive = {o["id"] for o in items}
        shown += [t for t in tombstones if t["id"] not in alive and filters.admits(t)]
    return sorted(shown, key=lambda o: o["id"])


def page(url: str, items: Sequence[dict[str, Any]], tombstones: Sequence[dict[str, Any]],
         filters: Filters, number: int = 1,
         complete: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
         ) -> dict[str, Any]:  # fmt: skip
    """One list page; ``url`` is the list's own URL (the first page, no parameters).
    ``complete``: what the page's objects lack that no filter looks at, added to them alone."""
    chosen = selected(items, tombstones, filters)
    per = filters.limit
    total_pages = max(1, math.ceil(len(chosen) / per))
    data = chosen[(number - 1) * per : number * per]
    if complete is not None:
        data = complete(data)
    if filters.omit_internal:
        data = [omit_internal(o) for o in data]
    links = {"first": link(url, filters, 1), "self": link(url, filters, number),
             "last": link(url, filters, total_pages)}  # fmt: skip
    if number > 1:
        links["prev"] = link(url, filters, min(number - 1, total_pages))
    if number < total_pages:
        links["next"] = link(url, filters, number + 1)
    return {
        "data": data,
        "pagination": {"totalElements": len(chosen), "elementsPerPage": per,
                       "currentPage": number, "totalPages": total_pages},
        "links": links,
    }  # fmt: skip


def all_pages(url: str, items: Sequence[dict[str, Any]], tombstones: Sequence[dict[str, Any]],
              filters: Filters) -> list[dict[str, Any]]:  # fmt: skip
    first = page(url, items, tombstones, filters, 1)
    pages = [first]
    for n in range(2, first["pagination"]["totalPages"] + 1):
        pages.append(page(url, items, tombstones, filters, n))
    return pages
