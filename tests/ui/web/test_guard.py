"""The web client's server refuses whoever did not open its printed URL,
a foreign ``Host``, and changes without the CSRF token; it refuses bad input
without changing the store. Plain HTTP to a real ``run.py client web``
process (offline: no cluster is needed for any of this)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from actors.client import ClientStore
from tests.ui.web.webrun import WebClient

pytestmark = pytest.mark.cluster


@pytest.fixture
def alice(tmp_path: Path, web_clients: Callable[[WebClient], WebClient]) -> WebClient:
    return web_clients(WebClient.offline(tmp_path, "alice"))


@pytest.fixture
def signed_in(alice: WebClient) -> Iterator[httpx.Client]:
    """A client that opened the printed URL (it holds the session cookie)."""
    with httpx.Client(base_url=alice.origin) as http:
        first = http.get(alice.url)
        assert first.status_code == 303
        http.headers["X-CSRF-Token"] = http.get("/api/state").json()["csrf"]
        yield http


def local_lists(alice: WebClient) -> list[dict[str, Any]]:
    store = ClientStore(alice.store, alice.client_id)
    try:
        return [s.to_json() for s in store.all()]
    finally:
        store.close()


def test_listens_on_loopback_only(alice: WebClient) -> None:
    assert alice.proc is not None
    listening = [
        c.laddr
        for c in psutil.Process(alice.proc.pid).net_connections("inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening
    assert {addr.ip for addr in listening} == {"127.0.0.1"}


@pytest.mark.parametrize("path", ["/", "/api/state", "/api/events", "/static/app.js"])
def test_without_the_secret_everything_is_refused(alice: WebClient, path: str) -> None:
    assert httpx.get(alice.origin + path).status_code == 403
    assert httpx.get(f"{alice.origin}/?token=not-{alice.token}").status_code == 403
    forged = httpx.get(alice.origin + path, cookies={"shoplist_session": "guess"})
    assert forged.status_code == 403


def test_the_printed_url_sets_a_strict_http_only_cookie(alice: WebClient) -> None:
    answer = httpx.get(alice.url)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert alice.token not in answer.headers["location"]


@pytest.mark.parametrize("host", ["evil.example:{port}", "127.0.0.1:1", "localhost"])
def test_a_foreign_host_is_refused(alice: WebClient, signed_in: httpx.Client, host: str) -> None:
    headers = {"Host": host.format(port=alice.port)}
    assert signed_in.get("/api/state", headers=headers).status_code == 403
    assert httpx.get(alice.url, headers=headers).status_code == 403
    assert signed_in.get("/api/state").status_code == 200
    localhost = {"Host": f"localhost:{alice.port}"}
    assert signed_in.get("/api/state", headers=localhost).status_code == 200


def test_a_change_without_the_csrf_token_is_refused(
    alice: WebClient, signed_in: httpx.Client
) -> None:
    without = signed_in.post("/api/lists", json={"name": "food"}, headers={"X-CSRF-Token": ""})
    assert without.status_code == 403
    wrong = signed_in.post("/api/lists", json={"name": "food"}, headers={"X-CSRF-Token": "x"})
    assert wrong.status_code == 403
    assert local_lists(alice) == []
    made = signed_in.post("/api/lists", json={"name": "food"})
    assert made.status_code == 200
    assert [doc["name"] for doc in local_lists(alice)] == ["food"]


def test_bad_input_is_refused_with_its_field_and_changes_nothing(
    alice: WebClient, signed_in: httpx.Client
) -> None:
    assert signed_in.post("/api/lists", json={"name": "  "}).json()["field"] == "name"
    list_id = signed_in.post("/api/lists", json={"name": "food"}).json()["id"]
    base = f"/api/lists/{list_id}"
    assert signed_in.post(f"{base}/add", json={"item": "milk", "quantity": "2"}).is_success
    before = local_lists(alice)
    refused = [
        ("rename", {"name": ""}, "name"),
        ("add", {"item": "", "quantity": "1"}, "item"),
        ("add", {"item": "eggs", "quantity": "0"}, "quantity"),
        ("add", {"item": "eggs", "quantity": "-3"}, "quantity"),
        ("add", {"item": "eggs", "quantity": "1.5"}, "quantity"),
        ("add", {"item": "eggs", "quantity": "two"}, "quantity"),
        ("quantity", {"item": "milk", "quantity": "0"}, "quantity"),
        ("buy", {"item": "milk", "quantity": "3"}, "buy"),
        ("buy", {"item": "milk", "quantity": "abc"}, "buy"),
    ]
    for path, body, field in refused:
        answer = signed_in.post(f"{base}/{path}", json=body)
        assert answer.status_code == 400, (path, body)
        assert answer.json()["field"] == field, (path, body)
        assert answer.json()["error"]
    assert local_lists(alice) == before


def test_stops_cleanly_on_sigterm(alice: WebClient, signed_in: httpx.Client) -> None:
    with signed_in.stream("GET", "/api/events") as events:
        assert events.status_code == 200
        assert alice.stop() == 0
