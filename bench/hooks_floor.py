"""A WSGI application that reads a webhook's body and answers what the Twilio hook answers, doing nothing else.

For bench/hooks_server.py only (`--variants floor:…`): served by the same gunicorn configuration as the hooks
application, it shows what the WSGI server itself costs per request (HTTP parsing, the worker's poller and thread
pool, writing the answer), so that the rest of a webhook's CPU can be put on Django and on our code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

ANSWER = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
HEADERS = [("Content-Type", "text/xml"), ("Content-Length", str(len(ANSWER)))]


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", HEADERS)
    return [ANSWER]
