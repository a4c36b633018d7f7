"""The safety of a server on the user's own machine: who may talk to it.

Every request passes :class:`Guard` (ASGI middleware) before it reaches the
page or the API:

* its ``Host`` header must name this server as ``127.0.0.1:PORT`` or
  ``localhost:PORT`` (a page of another site that re-points its own name at
  127.0.0.1, DNS rebinding, sends its own name and is refused);
* it carries the session cookie, which only ``/?token=SECRET`` (the printed
  URL) sets, as ``HttpOnly`` and ``SameSite=Strict``; that request is
  answered with a redirect to ``/``, so that the secret leaves the address bar;
* a request that changes anything (any method but GET and HEAD) also carries
  the CSRF token in the ``X-CSRF-Token`` header: the page reads it from
  ``/api/state``, which another site's page cannot read.

A refused request gets 403 and nothing else happens.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Final
from urllib.parse import parse_qs

from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["COOKIE", "CSRF_HEADER", "Guard", "Secrets"]

COOKIE: Final = "shoplist_session"
CSRF_HEADER: Final = "x-csrf-token"
_SAFE_METHODS: Final = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Secrets:
    """A web session's random secrets: the URL's token (also the cookie's
    value) and the CSRF token of its requests."""

    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))


def _same(given: str | None, expected: str) -> bool:
    return given is not None and secrets.compare_digest(given.encode(), expected.encode())


class Guard:
    """Refuses (403) what :mod:`ui.web.guard` does not let through; see there."""

    def __init__(self, app: ASGIApp, port: int, keys: Secrets) -> None:
        self.app = app
        self.hosts = frozenset({f"127.0.0.1:{port}", f"localhost:{port}"})
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if headers.get("host") not in self.hosts:
            await _refuse("unknown host", scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if scope["path"] == "/" and "token" in query:
            await self._start(query["token"][0], scope, receive, send)
            return
        if not _same(_cookie(headers.get("cookie", "")), self.keys.token):
            await _refuse("open the address the web command printed", scope, receive, send)
            return
        if scope["method"] not in _SAFE_METHODS and not _same(
            headers.get(CSRF_HEADER), self.keys.csrf
        ):
            await _refuse("missing or wrong CSRF token", scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _start(self, token: str, scope: Scope, receive: Receive, send: Send) -> None:
        """The printed URL: set the session cookie and send the browser to ``/``."""
        if not _same(token, self.keys.token):
            await _refuse("wrong token", scope, receive, send)
            return
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE, self.keys.token, httponly=True, samesite="strict", path="/", secure=False
        )
        await response(scope, receive, send)


def _cookie(header: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:  # a malformed header carries no session
        return None
    morsel = jar.get(COOKIE)
    return None if morsel is None else morsel.value


async def _refuse(reason: str, scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse(f"forbidden: {reason}", status_code=403)(scope, receive, send)
