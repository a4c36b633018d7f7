"""How soon one person's edit on the web page shows on another's page.

Run: ``python -m benchmarks.web_latency [--edits 200] [--security curve|off]``

Starts a cluster of its own (five servers, as ``run.py bench``), two web
clients (``run.py client --id alice|bob web``) and Debian's Chromium
(headless, through Playwright; ``--chromium`` names another). Alice makes a
list and an invite, Bob joins it; then Alice adds ``--edits`` items, one at
a time, on her page. For each, the time from her form's submit event to the
moment the item is in Bob's page (a MutationObserver there) is taken in the
browser, on the clock both pages share (``performance.timeOrigin + now()``).
Between two edits, a client session of the benchmark's own writes once to
another list and times its write (edit, push, the cluster's SAVED): the
cluster's own write time in the same run. Prints p50 and p99 of both.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from actors.client import ClientSession
from benchmarks.cluster_bench import ROOT, Cluster, add_cluster_arguments

_URL = re.compile(r"open (http://127\.0\.0\.1:\d+/\?token=\S+)")

#: In Alice's page: when each add form was submitted, by item name.
_SENT_JS = """() => {
  window.__sent = {};
  document.addEventListener("submit", (e) => {
    if (e.target.id === "add-form") {
      window.__sent[document.getElementById("add-item").value] =
        performance.timeOrigin + performance.now();
    }
  }, true);
}"""
#: In Bob's page: when each item name first showed in the list to buy.
_SEEN_JS = """() => {
  window.__seen = {};
  const note = () => {
    const at = performance.timeOrigin + performance.now();
    for (const el of document.querySelectorAll("#to-buy .item-name")) {
      if (!(el.textContent in window.__seen)) window.__seen[el.textContent] = at;
    }
  };
  new MutationObserver(note).observe(document.body, { childList: true, subtree: true });
}"""


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextlib.contextmanager
def _web_client(base: Path, topology: Path, client_id: str) -> Iterator[str]:
    """``run.py client --id ID web`` for the block; its printed URL."""
    cmd = [sys.executable, str(ROOT / "run.py"), "client", "--id", client_id]
    cmd += ["--topology", str(topology), "--store", str(base / "clients" / client_id)]
    cmd += ["web", "--port", "0"]
    with (base / f"web-{client_id}.err").open("ab") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, start_new_session=True)
    try:
        yield _read_url(proc, 60.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _read_url(proc: subprocess.Popen[bytes], deadline_s: float) -> str:
    assert proc.stdout is not None
    end = time.monotonic() + deadline_s
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    line = b""
    while b"\n" not in line and time.monotonic() < end:
        if sel.select(end - time.monotonic()):
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            line += chunk
    match = _URL.search(line.decode(errors="replace"))
    if match is None:
        raise RuntimeError(f"the web client printed no URL: {line!r}")
    return match[1]


def _open(browser: Browser, url: str) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", state="attached")
    return page


def _share(alice: Page, bob: Page) -> None:
    alice.fill("#create-name", "latency")
    alice.click("#create-form button")
    alice.wait_for_selector("#list-view:not([hidden])")
    alice.click("#invite-form button")
    alice.wait_for_function("document.getElementById('invite-link').value !== ''")
    bob.fill("#join-link", alice.input_value("#invite-link"))
    bob.click("#join-form button")
    bob.wait_for_selector("#list-name:text('latency')")


def _edit(alice: Page, bob: Page, name: str) -> float:
    """Alice adds ``name``; ms until Bob's page shows it."""
    alice.fill("#add-item", name)
    alice.click("#add-form button")
    bob.wait_for_function("(n) => n in window.__seen", arg=name, timeout=30_000)
    # Alice's page is done with it (its form emptied) before the next edit.
    alice.wait_for_function("document.getElementById('add-item').value === ''")
    sent = alice.evaluate("(n) => window.__sent[n]", name)
    seen = bob.evaluate("(n) => window.__seen[n]", name)
    return float(seen) - float(sent)


def _timed_write(session: ClientSession, list_id: str, item: str) -> float | None:
    start = time.perf_counter()
    _, pushed = session.add(list_id, item, 1)
    return (time.perf_counter() - start) * 1000 if pushed else None


def run(args: argparse.Namespace) -> dict[str, float]:
    base = Path(args.var).resolve() / f"web-latency-{uuid.uuid4().hex[:8]}"
    cluster = Cluster(base, "normal", 65_536, args.cpu_affinity, args.security)
    try:
        cluster.wait()
        curve = cluster.curve()
        writer = ClientSession(
            "writer",
            base / "clients" / "writer",
            {"frontend": cluster.endpoint()},
            proxy_key=None if curve is None else curve.server_public,
        )
        with (
            writer,
            _web_client(base, cluster.topology, "alice") as alice_url,
            _web_client(base, cluster.topology, "bob") as bob_url,
            sync_playwright() as pw,
        ):
            browser = pw.chromium.launch(executable_path=args.chromium, headless=True)
            alice, bob = _open(browser, alice_url), _open(browser, bob_url)
            _share(alice, bob)
            alice.evaluate(_SENT_JS)
            bob.evaluate(_SEEN_JS)
            own = writer.create("writes")[0].list_id
            page_ms, write_ms = [], []
            for i in range(args.edits):
                page_ms.append(_edit(alice, bob, f"item {i:04d}"))
                took = _timed_write(writer, own, f"w{i:04d}")
                if took is not None:
                    write_ms.append(took)
            browser.close()
    finally:
        cluster.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return {
        "edits": len(page_ms),
        "page_to_page_p50_ms": statistics.median(page_ms),
        "page_to_page_p99_ms": _percentile(page_ms, 0.99),
        "cluster_write_p50_ms": statistics.median(write_ms) if write_ms else float("nan"),
        "cluster_write_p99_ms": _percentile(write_ms, 0.99) if write_ms else float("nan"),
        "cluster_writes": len(write_ms),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--edits", type=int, default=200)
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    add_cluster_arguments(p)
    figures = run(p.parse_args())
    print(f"edits: {figures['edits']}")
    print(
        f"page to page: p50 {figures['page_to_page_p50_ms']:.1f} ms, "
        f"p99 {figures['page_to_page_p99_ms']:.1f} ms"
    )
    print(
        f"cluster write (edit, push, SAVED; {figures['cluster_writes']} writes): "
        f"p50 {figures['cluster_write_p50_ms']:.1f} ms, "
        f"p99 {figures['cluster_write_p99_ms']:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
