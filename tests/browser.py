"""Browser helpers: Debian's Chromium driven by Playwright, and a customer's website on its own origin."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from playwright.sync_api import Browser, Playwright

from tests.stack import free_port

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def launch_chromium(playwright: Playwright) -> Browser:
    # Never a downloaded browser: Debian's, installed by `make test`.
    return playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)


def widget_page(*, desk_url: str, channel_key: str, attributes: dict[str, str] | None = None) -> str:
    """A shop's page embedding the widget with the one-line snippet (plus optional data-* attributes)."""
    extra = "".join(f' data-{name}="{escape(value)}"' for name, value in (attributes or {}).items())
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme shop</title></head>'
        "<body><h1>Acme shop</h1>"
        f'<script src="{desk_url}/static/widget/omnidesk-widget.js" data-channel="{channel_key}"{extra} async>'
        "</script></body></html>"
    )


@contextmanager
def website(pages: dict[str, str]) -> Iterator[str]:
    """Serve `pages` (path → HTML) on a fresh loopback port; yields the site's origin (never the desk's)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path.split("?")[0])
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write((body or "not found").encode())

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{port}"
    finally:
        server.shutdown()
