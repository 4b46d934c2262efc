"""The webhook benchmarks' load generator: signed Twilio SMS requests and a lean HTTP/1.1 client.

The client is asyncio streams with pre-built requests (httpx would cost several times more CPU per request on the
same 2 cores): bench/webhook_ingest.py's burst and sustained phases, bench/hooks_server.py's server-only sweep. It
handles keep-alive and `Connection: close` (it reconnects), and sends a webhook again on a broken connection.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode


@dataclass(frozen=True)
class Webhook:
    sid: str
    raw: bytes  # the whole HTTP request, signed


def signed_sms(*, host: str, path: str, token: str, sid: str, sender: str) -> tuple[bytes, str]:
    """A Twilio inbound SMS as its form body and its X-Twilio-Signature (every webhook benchmark's request)."""
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": "ACbench",
        "From": sender,
        "To": "+33700000001",
        "Body": f"bench message {sid}",
        "NumMedia": "0",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    data = f"http://{host}{path}" + "".join(k + params[k] for k in sorted(params))
    signature = base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()
    return urlencode(params).encode(), signature


@dataclass
class Results:
    answers: dict[str, list[int]] = field(default_factory=dict)  # sid → statuses
    ack: list[float] = field(default_factory=list)
    sent_at: dict[str, float] = field(default_factory=dict)  # first send (scheduled time), perf_counter
    errors: int = 0


async def connection_loop(port: int, jobs: asyncio.Queue[tuple[Webhook, float] | None], results: Results) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while (job := await jobs.get()) is not None:
            webhook, scheduled = job
            results.sent_at.setdefault(webhook.sid, scheduled or time.perf_counter())
            for _attempt in range(3):
                started = time.perf_counter()
                try:
                    writer.write(webhook.raw)
                    status_line = await reader.readline()
                    length, close = 0, False
                    while (line := await reader.readline()) not in (b"\r\n", b""):
                        name, _, value = line.partition(b":")
                        if name.lower() == b"content-length":
                            length = int(value)
                        elif name.lower() == b"connection" and value.strip().lower() == b"close":
                            close = True
                    if length:
                        await reader.readexactly(length)
                    status = int(status_line.split()[1])
                except (OSError, IndexError, ValueError, asyncio.IncompleteReadError):
                    results.errors += 1  # the connection broke: reconnect and send this webhook again
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                results.ack.append(time.perf_counter() - started)
                results.answers.setdefault(webhook.sid, []).append(status)
                if close:
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
    finally:
        writer.close()


async def post_all(port: int, plan: list[Webhook], connections: int, *, rate: float | None) -> tuple[Results, float]:
    """Post the plan: as fast as possible (rate None) or on an absolute schedule. Returns results and seconds."""
    results = Results()
    jobs: asyncio.Queue[tuple[Webhook, float] | None] = asyncio.Queue()
    loops = [asyncio.create_task(connection_loop(port, jobs, results)) for _ in range(connections)]
    started = time.perf_counter()
    if rate is None:
        for webhook in plan:
            jobs.put_nowait((webhook, 0.0))
    else:
        for index, webhook in enumerate(plan):
            scheduled = started + index / rate
            if (delay := scheduled - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            jobs.put_nowait((webhook, scheduled))
    for _ in loops:
        jobs.put_nowait(None)
    await asyncio.gather(*loops)
    return results, time.perf_counter() - started
