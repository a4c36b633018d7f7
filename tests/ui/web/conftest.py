"""Fixtures of the web page's tests: a real cluster, web clients, a real browser.

The browser is Debian's Chromium (``/usr/bin/chromium``) driven by
Playwright; nothing downloads one. Only the browser tests skip, and only when
Chromium is not installed (CI installs it, see the README).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.harness import ClusterHarness
from tests.ui.web.webrun import WebClient

THREE = ["s1", "s2", "s3"]
#: Where the browser comes from: Debian's package, never a download.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: How long the page's expectations wait (Playwright auto-waits up to this).
EXPECT_TIMEOUT_MS = 15_000


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ClusterHarness]:
    """Three servers and a proxy on ephemeral loopback ports (n = 3)."""
    with ClusterHarness(tmp_path, THREE).running() as harness:
        yield harness


@pytest.fixture
def web_clients() -> Iterator[Callable[[WebClient], WebClient]]:
    """Starts web clients; every one is stopped at the end (killed if stuck)."""
    started: list[WebClient] = []

    def start(client: WebClient) -> WebClient:
        started.append(client)
        return client.start()

    try:
        yield start
    finally:
        for client in started:
            try:
                client.stop()  # SIGTERM: its logs are flushed
            finally:
                client.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Opens a client's printed URL in a fresh browser context (its own cookies)."""
    contexts = []

    def open_(client: WebClient, width: int = 1280, height: int = 800) -> Page:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.goto(client.url)
        expect(page.locator("body[data-ready=true]")).to_be_attached()
        return page

    try:
        yield open_
    finally:
        for context in contexts:
            context.close()
