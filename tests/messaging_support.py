"""A real local HTTP server standing in for the providers' APIs (Twilio, Meta Graph, Telegram Bot API, an API
channel's receiver and media hosts), recording every request; and helpers that sign webhooks like the providers do."""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from interactions import inbound
from interactions.models import Channel, Interaction
from routing.models import Queue


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


Reply = tuple[int, dict[str, str], bytes]
Responder = Callable[[Recorded, re.Match[str]], Reply]


def json_reply(body: Any, status: int = 200) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


@dataclass
class FakeProvider:
    """Answers like the providers' APIs; `fail_next(status, times)` scripts failures; `requests` records all."""

    server: ThreadingHTTPServer | None = None
    requests: list[Recorded] = field(default_factory=list)
    routes: list[tuple[str, re.Pattern[str], Responder]] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    media: dict[str, bytes] = field(default_factory=dict)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    twilio_tokens: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    def fail_next(self, status: int, times: int = 1) -> None:
        self.failures.extend([status] * times)

    def sent(self, path_pattern: str) -> list[Recorded]:
        return [r for r in self.requests if re.search(path_pattern, r.path) and r.method == "POST"]

    def route(self, method: str, pattern: str, responder: Responder) -> None:
        self.routes.insert(0, (method, re.compile(pattern), responder))

    def handle(self, request: Recorded) -> Reply:
        with self.lock:
            self.requests.append(request)
            if self.failures:
                return json_reply({"message": "scripted failure"}, self.failures.pop(0))
        for method, pattern, responder in self.routes:
            match = pattern.fullmatch(urlsplit(request.path).path)
            if method == request.method and match:
                return responder(request, match)
        return json_reply({"message": "no such route"}, 404)

    # --- the providers' default answers -------------------------------------------------------------------------

    def install_defaults(self) -> None:
        self.route("POST", r"/2010-04-01/Accounts/(\w+)/Messages\.json", self.twilio_message)
        self.route("POST", r"/([\w.-]+)/messages", self.graph_message)
        self.route("GET", r"/(media-[\w.-]+)", self.graph_media_info)
        self.route("POST", r"/bot([^/]+)/sendMessage", self.telegram_send)
        self.route("POST", r"/bot([^/]+)/getFile", self.telegram_get_file)
        self.route("GET", r"/file/bot([^/]+)/(.+)", lambda r, m: self.serve(m.group(2)))
        self.route("GET", r"/files/(.+)", lambda r, m: self.serve(m.group(1)))
        self.route("POST", r"/outbound", lambda r, m: json_reply({"id": f"out-{next(self.ids)}"}))

    def twilio_message(self, request: Recorded, match: re.Match[str]) -> Reply:
        # Twilio answers the same message again for a repeated I-Twilio-Idempotency-Token.
        token = request.headers.get("i-twilio-idempotency-token", "")
        with self.lock:
            sid = self.twilio_tokens.get(token) or f"SM{next(self.ids):032d}"
            if token:
                self.twilio_tokens[token] = sid
        return json_reply({"sid": sid, "status": "queued", "to": request.form.get("To")}, 201)

    def graph_message(self, request: Recorded, match: re.Match[str]) -> Reply:
        if request.json.get("messaging_product") == "whatsapp":
            return json_reply({"messaging_product": "whatsapp", "messages": [{"id": f"wamid.OUT{next(self.ids)}"}]})
        return json_reply({"recipient_id": request.json["recipient"]["id"], "message_id": f"m_{next(self.ids)}"})

    def graph_media_info(self, request: Recorded, match: re.Match[str]) -> Reply:
        name = match.group(1)
        return json_reply(
            {"url": f"{self.url}/files/{name}", "mime_type": "image/jpeg", "file_size": len(self.media.get(name, b""))}
        )

    def telegram_send(self, request: Recorded, match: re.Match[str]) -> Reply:
        chat_id = request.json["chat_id"]
        return json_reply({"ok": True, "result": {"message_id": next(self.ids), "chat": {"id": int(chat_id)}}})

    def telegram_get_file(self, request: Recorded, match: re.Match[str]) -> Reply:
        return json_reply(
            {"ok": True, "result": {"file_id": request.json["file_id"], "file_path": request.json["file_id"]}}
        )

    def serve(self, name: str) -> Reply:
        if name not in self.media:
            return json_reply({"message": "gone"}, 404)
        return 200, {"Content-Type": "application/octet-stream"}, self.media[name]


@contextmanager
def running_provider() -> Iterator[FakeProvider]:
    provider = FakeProvider()
    provider.install_defaults()

    class Handler(BaseHTTPRequestHandler):
        def do(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            recorded = Recorded(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            status, headers, body = provider.handle(recorded)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do

        def log_message(self, format: str, *args: Any) -> None:
            pass

    provider.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=provider.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        provider.server.shutdown()
        provider.server.server_close()


# --- channels as an admin configures them ---------------------------------------------------------------------------

TWILIO_TOKEN = "twilio-auth-token-for-tests"
META_SECRET = "meta-app-secret-for-tests"
TELEGRAM_SECRET = "telegram-secret-token"
API_SECRET = "api-channel-signing-secret"


def make_channel(kind: str, queue: Queue, *, api_base: str = "", **config: Any) -> Channel:
    all_secrets: dict[str, dict[str, str]] = {
        Channel.Kind.SMS: {"auth_token": TWILIO_TOKEN},
        Channel.Kind.WHATSAPP: {"app_secret": META_SECRET, "verify_token": "verify-me", "access_token": "meta-access"},
        Channel.Kind.MESSENGER: {"app_secret": META_SECRET, "verify_token": "verify-me", "access_token": "meta-access"},
        Channel.Kind.INSTAGRAM: {"app_secret": META_SECRET, "verify_token": "verify-me", "access_token": "meta-access"},
        Channel.Kind.TELEGRAM: {"bot_token": "123456:bot-token", "secret_token": TELEGRAM_SECRET},
        Channel.Kind.API: {"signing_secret": API_SECRET},
    }
    secrets = all_secrets[kind]
    if config.get("provider") == "twilio":
        secrets = {"auth_token": TWILIO_TOKEN}
    all_defaults: dict[str, dict[str, Any]] = {
        Channel.Kind.SMS: {"account_sid": "AC123", "from_number": "+33700000001"},
        Channel.Kind.WHATSAPP: {
            "phone_number_id": "1065550001",
            "templates": [{"name": "order_update", "language": "fr", "text": "Bonjour, votre commande a avancé."}],
        },
        Channel.Kind.MESSENGER: {"page_id": "page-1"},
        Channel.Kind.INSTAGRAM: {"ig_user_id": "ig-1"},
        Channel.Kind.TELEGRAM: {"bot_username": "omnidesk_bot"},
        Channel.Kind.API: {"outbound_url": f"{api_base}/outbound"},
    }
    merged = {**all_defaults[kind], **config}
    if api_base:
        merged["api_base"] = api_base
    return Channel.objects.create(kind=kind, name=f"{kind} channel", queue=queue, config=merged, secrets=secrets)


def twilio_sms(sid: str, *, sender: str = "+33612345678", body: str = "Bonjour", **extra: str) -> dict[str, str]:
    """An inbound SMS as Twilio posts it to the messaging webhook."""
    return {
        "ToCountry": "FR",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": "+33700000001",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": "AC123",
        "From": sender,
        "ApiVersion": "2010-04-01",
        **extra,
    }


def twilio_status(sid: str, status: str, **extra: str) -> dict[str, str]:
    """A Twilio status callback for an outbound message."""
    return {
        "SmsSid": sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": "+33612345678",
        "MessageSid": sid,
        "AccountSid": "AC123",
        "From": "+33700000001",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def whatsapp_envelope(
    *,
    messages: Sequence[dict[str, Any]] = (),
    statuses: Sequence[dict[str, Any]] = (),
    name: str = "Carla",
    wa_id: str = "33612345678",
    phone_number_id: str = "1065550001",
) -> dict[str, Any]:
    """The WhatsApp Cloud API webhook: entry[].changes[].value.messages[] / statuses[], for make_channel's number
    unless `phone_number_id` names another."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "33700000002", "phone_number_id": phone_number_id},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": name}, "wa_id": wa_id}]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA-1", "changes": [{"value": value, "field": "messages"}]}],
    }


def whatsapp_text(wamid: str, text: str = "Bonjour", *, sender: str = "33612345678", **extra: Any) -> dict[str, Any]:
    return {"from": sender, "id": wamid, "timestamp": "1764579600", "type": "text", "text": {"body": text}, **extra}


def messenger_envelope(items: list[dict[str, Any]], *, object_: str = "page", account: str = "") -> dict[str, Any]:
    """Messenger (object "page") and Instagram (object "instagram"): entry[].messaging[]; the entry's id is the page's
    or the Instagram account's (make_channel's "page-1" / "ig-1" unless `account` names another)."""
    entry_id = account or ("ig-1" if object_ == "instagram" else "page-1")
    return {"object": object_, "entry": [{"id": entry_id, "time": 1764579600000, "messaging": items}]}


def telegram_update(update_id: int, *, text: str = "Bonjour", user_id: int = 777, **message: Any) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id + 1000,
            "from": {"id": user_id, "is_bot": False, "first_name": "Carla", "last_name": "Durand", "username": "carla"},
            "chat": {"id": user_id, "first_name": "Carla", "type": "private"},
            "date": 1764579600,
            "text": text,
            **message,
        },
    }


def ingest(channel: Channel, provider: str, events: list[tuple[str, dict[str, Any]]]) -> list[Interaction]:
    """Store the events as the webhook does, then process them as the worker does."""
    made = []
    for external_id, payload in events:
        event, _created = inbound.record_inbound_event(
            channel=channel, external_id=external_id, payload=payload, provider=provider
        )
        interaction = inbound.process_inbound_event(event_id=event.pk)
        if interaction is not None:
            made.append(interaction)
    return made
