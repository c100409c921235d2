"""The OParl 1.1 API, read-only, under /oparl/v1.1/: the public view, no login.

The same ``Site`` answers as ``lifecycle oparl export`` writes, so the two cannot disagree;
ids are the URLs served here (base: the request's own address, so a proxy that forwards the
Host header gives its URLs). Errors are the spec's error object, never an HTML page: an unknown
id is 404 ``{"type": ".../Error", "message": ..., "debug": ...}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from sqlmodel import Session

from ..errors import InputError, LifecycleError, NotFound
from ..oparl.service import Site
from .app import db

router = APIRouter()
DB = Annotated[Session, Depends(db)]
PREFIX = "/oparl/v1.1"
ERROR = "https://schema.oparl.org/1.1/Error"
# Anyone may read public data, from any site (portals fetch it in the browser too).
HEADERS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache"}


def error(status: int, message: str, debug: str = "") -> JSONResponse:
    body: dict[str, Any] = {"type": ERROR, "message": message}
    if debug:
        body["debug"] = debug
    return JSONResponse(body, status_code=status, headers=HEADERS)


@router.get(PREFIX + "/{path:path}", include_in_schema=False)
def oparl(request: Request, path: str, s: DB) -> Response:
    base = str(request.base_url).rstrip("/") + PREFIX
    if not path.strip("/"):  # the entry point: the System, at the URL its id names
        return RedirectResponse(f"{base}/system", status_code=307, headers=HEADERS)
    try:
        answer = Site(s, base).answer(path, dict(request.query_params))
    except NotFound as exc:
        return error(404, "Dieses Objekt gibt es nicht.", str(exc))
    except InputError as exc:
        return error(400, "Die Anfrage ist fehlerhaft.", str(exc))
    except LifecycleError as exc:
        return error(500, "Das Objekt kann nicht ausgegeben werden.", str(exc))
    if answer.file is not None:
        return FileResponse(
            answer.file, filename=answer.file.name, headers=HEADERS,
            content_disposition_type="attachment" if answer.download else "inline",
        )  # fmt: skip
    return JSONResponse(answer.payload, headers=HEADERS)


@router.get("/oparl", include_in_schema=False)
@router.get("/oparl/{rest:path}", include_in_schema=False)
def elsewhere(rest: str = "") -> Response:
    """Anything else under /oparl: the spec's 404, not the app's HTML page."""
    return error(404, "Dieses Objekt gibt es nicht.", f"/oparl/{rest}: nur OParl 1.1 unter "
                 f"{PREFIX}/system")  # fmt: skip
