"""The body limit counts the bytes that arrive, whatever the headers say.

A chunked request (``Transfer-Encoding: chunked``, no Content-Length) to the login form needs
no account and no CSRF token: read whole, 200 fields of 5 MiB would be a gigabyte per request.
"""

from __future__ import annotations

import asyncio
import http.client
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from test_web_browser import server as server  # noqa: F401 (the real `lifecycle web`)
from web_support import client_for, dump, make_app

from lifecycle.web.app import MAX_BODY

MiB = 2**20
BOUNDARY = "grenze"


@pytest.fixture
def app(db_url):
    return make_app(db_url)


def multipart(fields: int, size: int) -> Iterator[bytes]:
    """A multipart form of ``fields`` fields of ``size`` bytes each, in 1 MiB chunks."""
    for i in range(fields):
        yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\n'.encode()
        for _ in range(size // MiB):
            yield b"a" * MiB
        yield b"\r\n"
    yield f"--{BOUNDARY}--\r\n".encode()


def call(app, path: str, chunks: Iterator[bytes], headers: list[tuple[bytes, bytes]]
         ) -> tuple[int, bytes, int]:  # fmt: skip
    """The app called as a server calls it, the body handed over chunk by chunk as it is
    asked for; (status, body, bytes the app pulled)."""
    pulled = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal pulled
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
        "headers": [(b"host", b"testserver"), *headers],
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, pulled


CHUNKED = [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
           (b"transfer-encoding", b"chunked")]  # fmt: skip


def test_a_chunked_body_is_cut_off_at_the_limit_without_a_login(app, db_url):
    before = dump(db_url)
    status, body, pulled = call(app, "/anmelden", multipart(100, 5 * MiB), CHUNKED)
    assert status == 413 and "zu groß (höchstens 6 MiB)" in body.decode()
    assert '<html lang="de">' in body.decode()
    assert pulled <= MAX_BODY + MiB  # reading stopped at the first chunk past the limit
    assert dump(db_url) == before


@pytest.mark.parametrize("length", [b"10", b"100", str(MAX_BODY).encode()])
def test_a_content_length_that_lies_does_not_lift_the_limit(app, db_url, length):
    headers = [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
               (b"content-length", length)]  # fmt: skip
    status, body, pulled = call(app, "/anmelden", multipart(3, 4 * MiB), headers)
    assert status == 413 and "zu groß" in body.decode()
    assert pulled <= MAX_BODY + MiB


@pytest.mark.parametrize("length", [b"\xc2\xb2", b"-1", b"1e3", b"99999999999999999999999"])
def test_a_content_length_that_is_no_number_is_refused(app, length):
    headers = [(b"content-type", b"application/x-www-form-urlencoded"),
               (b"content-length", length)]  # fmt: skip
    status, body, pulled = call(app, "/anmelden", iter([b"name=x"]), headers)
    assert status == 413 and pulled == 0


def test_a_chunked_form_below_the_limit_still_works(app):
    """The limit is on the body, not on chunking: a small chunked login form is read."""
    client = client_for(app, None)
    token = client.get("/anmelden").text.split('name="csrf_token" value="', 1)[1].split('"')[0]
    form = f"csrf_token={token}&name=admin&passwort=falsch-falsch&weiter=/".encode()
    urlencoded = {"content-type": "application/x-www-form-urlencoded"}
    response = client.post("/anmelden", content=iter([form[:10], form[10:]]), headers=urlencoded)
    assert response.status_code == 401  # read, checked, wrong password: not 413


def test_a_real_server_refuses_a_chunked_body_past_the_limit(server):
    address = urlsplit(server)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    conn.putrequest("POST", "/anmelden")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    try:
        for chunk in multipart(40, 5 * MiB):
            conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        conn.send(b"0\r\n\r\n")
    except OSError:  # the server answered and closed while we were still sending
        pass
    response = conn.getresponse()
    assert response.status == 413
    assert "zu groß" in response.read().decode()
