"""Fixtures of the browser layer: the SSE layer's stand-ins, the app behind the Function URL's CORS
emulation, the web/ directory on another origin, and headless Chromium (Debian's, via Playwright)."""
from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from standins.demo import CORS_ORIGINS_ENV
from tests.sse.conftest import app_factory, items_table, moto, receiver, tables, user_pool, users_table  # noqa: F401
from tests.sse.harness import REPO

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def web_origin():
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(REPO / "web")))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def cors_app(app_factory, receiver, web_origin):  # noqa: F811
    """The app as the browser reaches it through the Function URL (CORS for the web origin only)."""
    return app_factory(receiver.endpoint, app="standins.demo:app", **{CORS_ORIGINS_ENV: web_origin})


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    p = context.new_page()
    yield p
    context.close()
