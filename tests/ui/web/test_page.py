"""Two people's pages in a real browser on one real cluster: sharing, live
edits both ways, edits made offline, refused input, keyboard and phone use.

Alice and Bob each run ``run.py client web``; their pages are opened in
headless Chromium. Every expectation waits (Playwright's auto-waiting) for
what the page shows; no page is ever reloaded.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from actors.client import ClientStore
from tests.harness import ClusterHarness
from tests.ui.web.webrun import WebClient, cluster_away

Start = Callable[[WebClient], WebClient]
Open = Callable[..., Page]
PHONE = (390, 844)
DESKTOP = (1280, 800)
#: Set to a folder (``docs``) to keep the screenshots there too.
SCREENSHOTS_ENV = "SHOPLIST_SCREENSHOTS"
INVITE = re.compile(r"^shoplist:")

pytestmark = pytest.mark.cluster


def item(page: Page, name: str, section: str = "to-buy") -> Any:
    return page.locator(f"#{section} .item").filter(has=page.locator(".item-name", has_text=name))


def create_list(page: Page, name: str) -> str:
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#list-name")).to_have_text(name)
    return page.url.rsplit("/", 1)[1]


def add_item(page: Page, name: str, quantity: str) -> None:
    page.get_by_label("Item", exact=True).fill(name)
    page.locator("#add-quantity").fill(quantity)
    page.get_by_role("button", name="Add", exact=True).click()


def share(alice: Page, bob: Page, role: str = "edit") -> None:
    alice.get_by_label("They may").select_option(label=role)
    alice.get_by_role("button", name="Make an invite link").click()
    link = alice.locator("#invite-link")
    expect(link).to_have_value(INVITE)
    bob.locator("#home-link").click()
    bob.get_by_label("Invite link someone sent you").fill(link.input_value())
    bob.get_by_role("button", name="Join").click()


def stored(client: WebClient, list_id: str) -> dict[str, Any]:
    store = ClientStore(client.store, client.client_id)
    try:
        state = store.load(list_id)
        assert state is not None
        return state.to_json()
    finally:
        store.close()


def two_people(cluster: ClusterHarness, web_clients: Start) -> tuple[WebClient, WebClient]:
    return (
        web_clients(WebClient.for_cluster(cluster, "alice")),
        web_clients(WebClient.for_cluster(cluster, "bob")),
    )


def screenshot(page: Page, tmp_path: Path, name: str, size: tuple[int, int]) -> None:
    page.set_viewport_size({"width": size[0], "height": size[1]})
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    keep = os.environ.get(SCREENSHOTS_ENV)
    if keep:
        shutil.copy(path, Path(keep) / path.name)


def test_edits_on_one_page_appear_on_the_other(
    cluster: ClusterHarness, web_clients: Start, open_page: Open, tmp_path: Path
) -> None:
    alice_web, bob_web = two_people(cluster, web_clients)
    alice, bob = open_page(alice_web), open_page(bob_web)
    expect(alice.locator("#status")).to_contain_text("Online")
    list_id = create_list(alice, "Saturday market")
    add_item(alice, "apples", "6")
    expect(item(alice, "apples")).to_contain_text("6 to buy")
    share(alice, bob)
    expect(bob.locator("#list-name")).to_have_text("Saturday market")
    expect(item(bob, "apples")).to_contain_text("6 to buy")

    add_item(bob, "bread", "1")  # bob -> alice
    expect(item(alice, "bread")).to_contain_text("1 to buy")
    item(alice, "apples").get_by_role("textbox", name="How many to buy of apples").fill("2")
    item(alice, "apples").get_by_role("button", name="Buy apples").click()  # alice -> bob
    expect(item(bob, "apples")).to_contain_text("4 to buy · 6 needed · 2 bought")
    item(bob, "apples").get_by_role("textbox", name="Quantity of apples").fill("8")
    item(bob, "apples").get_by_role("button", name="Set quantity of apples").click()
    expect(item(alice, "apples")).to_contain_text("6 to buy · 8 needed · 2 bought")
    item(alice, "bread").get_by_role("button", name="Buy all bread").click()
    expect(item(bob, "bread", "bought")).to_contain_text("1 bought")
    expect(item(bob, "bread")).to_have_count(0)
    add_item(alice, "cheese", "1")
    expect(item(bob, "cheese")).to_be_visible()
    item(bob, "cheese").get_by_role("button", name="Remove cheese").click()
    expect(item(alice, "cheese")).to_have_count(0)
    bob.get_by_label("New name").fill("Market")
    bob.get_by_role("button", name="Rename").click()
    expect(alice.locator("#list-name")).to_have_text("Market")

    expect(alice.locator("#list-waiting")).to_be_hidden()
    assert {row["id"] for row in stored(alice_web, list_id)["list"]} == {"apples", "bread"}
    screenshot(alice, tmp_path, "web-phone", PHONE)
    screenshot(alice, tmp_path, "web-desktop", DESKTOP)


def test_offline_edits_wait_and_then_reach_the_other_page(
    cluster: ClusterHarness, web_clients: Start, open_page: Open
) -> None:
    alice_web, bob_web = two_people(cluster, web_clients)
    alice, bob = open_page(alice_web), open_page(bob_web)
    create_list(alice, "Hardware")
    share(alice, bob)
    expect(bob.locator("#list-name")).to_have_text("Hardware")

    with cluster_away(cluster):
        expect(alice.locator("#status")).to_contain_text("Offline")
        add_item(alice, "nails", "100")
        expect(item(alice, "nails")).to_contain_text("100 to buy")
        expect(item(alice, "nails").locator(".badge")).to_have_text("waiting")
        expect(alice.locator("#list-waiting")).to_be_visible()
        expect(alice.locator("#status")).to_contain_text("1 list waiting")

    expect(alice.locator("#status")).to_have_text("Online")
    expect(alice.locator("#list-waiting")).to_be_hidden()
    # Bob's client may have missed the update while its watch was not back
    # yet; its page's catch-up pull (every 10 s) brings it then.
    expect(item(bob, "nails")).to_contain_text("100 to buy", timeout=30_000)


def test_bad_input_is_refused_next_to_its_field(
    cluster: ClusterHarness, web_clients: Start, open_page: Open
) -> None:
    alice_web = web_clients(WebClient.for_cluster(cluster, "alice"))
    alice = open_page(alice_web)
    alice.get_by_role("button", name="Create").click()
    expect(alice.locator("#create-name-error")).to_have_text("Enter a name.")
    expect(alice.locator("#lists li")).to_have_count(0)
    list_id = create_list(alice, "Pantry")
    add_item(alice, "rice", "2")
    expect(item(alice, "rice")).to_contain_text("2 to buy")
    before = stored(alice_web, list_id)

    for quantity in ("0", "-1", "1.5", "lots", ""):
        add_item(alice, "beans", quantity)
        expect(alice.locator("#add-quantity-error")).to_have_text(
            "Enter a whole number of at least 1."
        )
        expect(alice.locator("#add-quantity")).to_have_attribute("aria-invalid", "true")
    add_item(alice, "  ", "1")
    expect(alice.locator("#add-item-error")).to_have_text("Enter a name.")
    rice = item(alice, "rice")
    rice.get_by_role("textbox", name="How many to buy of rice").fill("5")
    rice.get_by_role("button", name="Buy rice").click()
    expect(rice.locator(".error[data-field=buy]")).to_have_text("Only 2 left to buy.")
    alice.get_by_role("button", name="Rename").click()
    expect(alice.locator("#rename-name-error")).to_have_text("Enter a name.")

    expect(item(alice, "beans")).to_have_count(0)
    assert stored(alice_web, list_id) == before


def test_keyboard_only_phone_width_and_labels(
    cluster: ClusterHarness, web_clients: Start, open_page: Open
) -> None:
    alice_web = web_clients(WebClient.for_cluster(cluster, "alice"))
    alice = open_page(alice_web, 360, 740)

    def tab_to(element_id: str) -> None:
        for _ in range(40):
            if alice.evaluate("document.activeElement.id") == element_id:
                return
            alice.keyboard.press("Tab")
        raise AssertionError(f"Tab never reached #{element_id}")

    tab_to("create-name")
    alice.keyboard.type("Keyboard list")
    alice.keyboard.press("Enter")
    expect(alice.locator("#list-name")).to_have_text("Keyboard list")
    tab_to("add-item")
    alice.keyboard.type("tea")
    alice.keyboard.press("Tab")
    alice.keyboard.press("Control+A")
    alice.keyboard.type("3")
    alice.keyboard.press("Enter")
    expect(item(alice, "tea")).to_contain_text("3 to buy")
    tab_to("buy-tea")
    alice.keyboard.press("Control+A")
    alice.keyboard.type("3")
    alice.keyboard.press("Enter")
    expect(item(alice, "tea", "bought")).to_contain_text("3 bought")

    unlabelled = alice.evaluate(
        "[...document.querySelectorAll('input, select')]"
        ".filter(e => !e.labels.length && !e.getAttribute('aria-label')).length"
    )
    assert unlabelled == 0
    assert alice.evaluate("document.documentElement.scrollWidth") <= 360
