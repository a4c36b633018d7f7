"""The web page's routes: its files, a JSON API, and a stream of events.

Every session call runs on the :class:`~ui.web.worker.SessionWorker`'s
thread. A request that changes something answers with the list (or the
state) as it is afterwards, and announces the change to every open event
stream (``list`` events); the page then asks again for what it shows.
Refused input answers 400 with ``{"field", "error"}``, the field being the
form field the message belongs next to; nothing was changed.

While the page is served, a ticker pushes edits left waiting (made while
the cluster was away) as soon as the proxy is connected again, pulls the
lists now and then to catch up (see ``_Ticker``), and sends a ``status``
event whenever the connection or the set of waiting lists changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from actors.client import (
    ClientSession,
    ClusterUnavailable,
    ClusterUnreachable,
    Forbidden,
    UnknownList,
)
from crdt import ShoppingListError
from ui.web.views import (
    BadInput,
    check_buy,
    list_doc,
    parse_item,
    parse_name,
    parse_quantity,
    set_needed,
    state_doc,
    status_doc,
)
from ui.web.worker import Event, Hub, SessionWorker

__all__ = ["STATIC_DIR", "WebApp", "build_app"]

STATIC_DIR: Final = Path(__file__).parent / "static"
#: How often the ticker looks at the connection and the waiting edits.
TICK_S: Final = 0.25
#: How often every local list is pulled while connected (see ``_Ticker``).
CATCH_UP_S: Final = 10.0
#: How soon a catch-up that could not pull every list is tried again.
CATCH_UP_RETRY_S: Final = 1.0
#: A comment line on an idle event stream, so that dead connections are noticed.
HEARTBEAT_S: Final = 15.0

Body = dict[str, Any]
Edit = Callable[[ClientSession, str, Body], Any]


@dataclass(frozen=True)
class WebApp:
    """What the routes share: the session's worker, its events, the CSRF token."""

    worker: SessionWorker
    hub: Hub
    csrf: str


async def _body(request: Request) -> Body:
    try:
        body = await request.json()
    except ValueError:
        raise BadInput("form", "The request was not understood.") from None
    if not isinstance(body, dict):
        raise BadInput("form", "The request was not understood.")
    return body


def _refusal(exc: Exception) -> JSONResponse:
    """The answer to an edit that failed with ``exc`` (nothing was changed)."""
    if isinstance(exc, BadInput):
        return JSONResponse({"field": exc.field, "error": exc.message}, status_code=400)
    if isinstance(exc, UnknownList):
        return JSONResponse({"field": "form", "error": "This list is not here."}, status_code=404)
    if isinstance(exc, Forbidden):
        error = "The cluster refused: this client may not do that with this list."
        return JSONResponse({"field": "form", "error": error}, status_code=409)
    if isinstance(exc, ClusterUnreachable | ClusterUnavailable):
        error = "The cluster is not reachable now; try again when online."
        return JSONResponse({"field": "form", "error": error}, status_code=503)
    return JSONResponse({"field": "form", "error": str(exc)}, status_code=400)


_REFUSED: Final = (
    BadInput,
    UnknownList,
    ClusterUnreachable,
    ClusterUnavailable,
    ShoppingListError,
    ValueError,
)


async def _answer(app: WebApp, work: Callable[[ClientSession], Any], changed: str) -> Response:
    """Run ``work`` on the session; announce ``changed`` (a list id) if it succeeded."""
    try:
        result = await app.worker.call(work)
    except _REFUSED as exc:
        return _refusal(exc)
    if changed:
        app.hub.publish(Event("list", {"id": changed}))
    return JSONResponse(result)


def _list_edit(app: WebApp, edit: Edit) -> Callable[[Request], Awaitable[Response]]:
    """A route that applies ``edit`` to the list of its path and answers with it."""

    async def route(request: Request) -> Response:
        list_id = request.path_params["list_id"]
        try:
            body = await _body(request)
        except BadInput as exc:
            return _refusal(exc)

        def work(session: ClientSession) -> Any:
            edit(session, list_id, body)
            return list_doc(session, list_id)

        return await _answer(app, work, list_id)

    return route


# ----------------------------------------------------------------- the edits


def _rename(session: ClientSession, list_id: str, body: Body) -> None:
    session.rename(list_id, parse_name(body.get("name"), "name"))


def _add(session: ClientSession, list_id: str, body: Body) -> None:
    item = parse_item(body.get("item"), "item")
    session.add(list_id, item, parse_quantity(body.get("quantity"), "quantity"))


def _quantity(session: ClientSession, list_id: str, body: Body) -> None:
    item = parse_item(body.get("item"), "quantity")
    set_needed(session, list_id, item, parse_quantity(body.get("quantity"), "quantity"))


def _buy(session: ClientSession, list_id: str, body: Body) -> None:
    item = parse_item(body.get("item"), "buy")
    wanted = None if body.get("all") else parse_quantity(body.get("quantity"), "buy")
    session.acquire(list_id, item, check_buy(session, list_id, item, wanted))


def _remove(session: ClientSession, list_id: str, body: Body) -> None:
    item = parse_item(body.get("item"), "form")
    state = session.get_local(list_id)
    if state is None:
        raise UnknownList(list_id)
    if not state.lookup(item):
        raise BadInput("form", "This item is no longer on the list.")
    session.remove(list_id, item)


# ---------------------------------------------------------------- the routes


def build_app(worker: SessionWorker, hub: Hub, csrf: str) -> Starlette:
    """The Starlette application of one web session (wrap it in a
    :class:`~ui.web.guard.Guard` before serving it)."""
    app = WebApp(worker, hub, csrf)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    async def state(request: Request) -> Response:
        doc = await worker.call(state_doc)
        return JSONResponse({**doc, "csrf": csrf}, headers={"Cache-Control": "no-store"})

    async def one_list(request: Request) -> Response:
        list_id = request.path_params["list_id"]
        return await _answer(app, lambda s: list_doc(s, list_id), "")

    async def create(request: Request) -> Response:
        try:
            name = parse_name((await _body(request)).get("name"), "name")
        except BadInput as exc:
            return _refusal(exc)
        created = await worker.call(lambda s: s.create(name)[0].list_id)
        hub.publish(Event("list", {"id": created}))
        return JSONResponse({"id": created})

    async def delete(request: Request) -> Response:
        list_id = request.path_params["list_id"]
        return await _answer(app, lambda s: {"deleted": s.delete(list_id)}, list_id)

    async def invite(request: Request) -> Response:
        list_id = request.path_params["list_id"]
        role = (await _body(request)).get("role")
        if role not in ("editor", "viewer"):
            return _refusal(BadInput("role", "Choose editor or viewer."))
        return await _answer(app, lambda s: {"link": str(s.invite(list_id, role)[0])}, "")

    async def join(request: Request) -> Response:
        try:
            link = parse_name((await _body(request)).get("link"), "link", 4096)
        except BadInput as exc:
            return _refusal(exc)
        try:
            joined = await worker.call(lambda s: s.join(link).list_id)
        except Forbidden:
            return _refusal(BadInput("link", "This invite is unknown, used up or expired."))
        except ValueError:
            return _refusal(BadInput("link", "This is not an invite link."))
        except _REFUSED as exc:
            return _refusal(exc)
        hub.publish(Event("list", {"id": joined}))
        return JSONResponse({"id": joined})

    async def events(request: Request) -> Response:
        return StreamingResponse(
            _stream(app), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    routes = [
        Route("/", index),
        Route("/api/state", state),
        Route("/api/events", events),
        Route("/api/lists", create, methods=["POST"]),
        Route("/api/join", join, methods=["POST"]),
        Route("/api/lists/{list_id}", one_list),
        Route("/api/lists/{list_id}/delete", delete, methods=["POST"]),
        Route("/api/lists/{list_id}/invite", invite, methods=["POST"]),
        Route("/api/lists/{list_id}/rename", _list_edit(app, _rename), methods=["POST"]),
        Route("/api/lists/{list_id}/add", _list_edit(app, _add), methods=["POST"]),
        Route("/api/lists/{list_id}/quantity", _list_edit(app, _quantity), methods=["POST"]),
        Route("/api/lists/{list_id}/buy", _list_edit(app, _buy), methods=["POST"]),
        Route("/api/lists/{list_id}/remove", _list_edit(app, _remove), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    return Starlette(routes=routes, lifespan=lambda _: _ticking(app))


def _sse(event: Event) -> str:
    return f"event: {event.kind}\ndata: {json.dumps(event.data)}\n\n"


async def _stream(app: WebApp) -> AsyncIterator[str]:
    """Server-sent events: the status first, then every event published."""
    queue = app.hub.subscribe()
    try:
        yield _sse(Event("status", await app.worker.call(status_doc)))
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
            except TimeoutError:
                yield ": idle\n\n"
                continue
            yield _sse(event)
    finally:
        app.hub.unsubscribe(queue)


@dataclass
class _Ticker:
    """One tick, on the worker's thread: push what waits, catch up, report.

    While connected, every local list is pulled at once when the connection
    comes back and then every :data:`CATCH_UP_S`: an update published while
    this client's watch was not in place (a proxy that restarted, a list
    watched before the cluster had it) still reaches the page.
    """

    was_linked: bool = False
    pull_at: float = 0.0

    def __call__(self, session: ClientSession) -> tuple[dict[str, Any], list[str]]:
        """The status afterwards, and the lists a pull changed."""
        changed: list[str] = []
        linked = session.connected()
        if linked:
            for list_id, _ in session.store.pending():
                if list_id not in session.forbidden:
                    session.flush(list_id)
            now = time.monotonic()
            if not self.was_linked or now >= self.pull_at:
                changed, complete = _catch_up(session)
                self.pull_at = now + (CATCH_UP_S if complete else CATCH_UP_RETRY_S)
        self.was_linked = linked
        return status_doc(session), changed


def _catch_up(session: ClientSession) -> tuple[list[str], bool]:
    """Pull every local list: those it changed, and whether every pull succeeded."""
    changed, complete = [], True
    for list_id in session.store.ids():
        before = session.get_local(list_id)
        try:
            after = session.pull(list_id)
        except Forbidden:
            continue  # no access (any more): nothing to catch up on
        except (UnknownList, ClusterUnreachable, ClusterUnavailable):
            complete = False
            continue
        if before is None or after.version != before.version:
            changed.append(list_id)
    return changed, complete


@contextlib.asynccontextmanager
async def _ticking(app: WebApp) -> AsyncIterator[None]:
    ticker = _Ticker()

    async def tick() -> None:
        last: dict[str, Any] | None = None
        while True:
            status, changed = await app.worker.call(ticker)
            for list_id in changed:
                app.hub.publish(Event("list", {"id": list_id}))
            if status != last:
                app.hub.publish(Event("status", status))
                last = status
            await asyncio.sleep(TICK_S)  # a period of the ticker, not a synchronisation

    task = asyncio.create_task(tick())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
