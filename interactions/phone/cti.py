"""The CTI wire formats: request signatures, and provider payloads read into one normalized `CtiEvent`.

Generic CTI (any PBX): a JSON body, signed with the channel's secret in headers, never in the URL:
    X-Omnidesk-Timestamp: <unix seconds>
    X-Omnidesk-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>
accepted within five minutes of our clock. Twilio Voice status callbacks are signed their own way
(X-Twilio-Signature: base64 HMAC-SHA1(auth token, URL + sorted POST parameters)). Both are verified by the one
webhook intake (interactions/intake.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from interactions.adapters import InvalidPayload

TIMESTAMP_HEADER = "X-Omnidesk-Timestamp"
SIGNATURE_HEADER = "X-Omnidesk-Signature"
TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_WINDOW_SECONDS = 300

EVENTS = ("ringing", "answered", "hold", "resumed", "transferred", "hangup")
# Events a call has once: their store key is (call id, event), so a retried webhook is stored once. The others can
# happen several times in one call and are told apart by the provider's event id or their time.
ONCE_PER_CALL = {"ringing", "answered", "hangup"}


@dataclass(frozen=True)
class CtiEvent:
    event: str
    call_id: str
    at: datetime
    direction: str  # "in" or "out"
    from_number: str = ""
    to_number: str = ""
    # The agent concerned: rung (ringing), answering (answered), receiving (transferred). Username, user id or
    # extension (the channel's config maps extensions to usernames).
    agent: str = ""
    extension: str = ""
    queue: str = ""
    cause: str = ""
    intent: str = ""
    recording_url: str = ""

    @property
    def customer_number(self) -> str:
        """The customer's side of the call: the caller of an inbound call, the callee of an outbound one."""
        return self.from_number if self.direction == "in" else self.to_number


def store_key(*, call_id: str, event: str, event_id: str = "", at: str = "") -> str:
    """The InboundEvent external id: unique per call and event (plus the event's id or time when it can recur)."""
    if event in ONCE_PER_CALL:
        return f"{call_id}:{event}"
    return f"{call_id}:{event}:{event_id or at}"


def _moment(value: Any, fallback: Any) -> datetime:
    for candidate in (value, fallback):
        if isinstance(candidate, str) and candidate:
            parsed = parse_datetime(candidate)
            if parsed is not None:
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if isinstance(candidate, int | float) and not isinstance(candidate, bool):
            return datetime.fromtimestamp(candidate, tz=UTC)
    raise InvalidPayload("the event has no readable time")


def _text(payload: Mapping[str, Any], key: str, limit: int = 200) -> str:
    value = payload.get(key)
    if value is None:
        return ""
    return str(value).strip()[:limit]


def parse_cti(payload: Mapping[str, Any]) -> CtiEvent:
    """A stored generic CTI payload (the webhook validated its shape) as a CtiEvent."""
    event = payload.get("event")
    call_id = _text(payload, "call_id")
    if event not in EVENTS or not call_id:
        raise InvalidPayload("a CTI event needs a known `event` and a `call_id`")
    direction = "out" if str(payload.get("direction", "")).lower() in {"out", "outbound"} else "in"
    return CtiEvent(
        event=str(event),
        call_id=call_id,
        at=_moment(payload.get("at"), payload.get("received_at")),
        direction=direction,
        from_number=_text(payload, "from", 64),
        to_number=_text(payload, "to", 64),
        agent=_text(payload, "agent", 150),
        extension=_text(payload, "extension", 32),
        queue=_text(payload, "queue", 100),
        cause=_text(payload, "cause", 64),
        intent=_text(payload, "intent", 100),
        recording_url=_text(payload, "recording_url", 2000),
    )


# Twilio's CallStatus → our event (and hang-up cause).
TWILIO_STATUSES: dict[str, tuple[str, str]] = {
    "queued": ("ringing", ""),
    "initiated": ("ringing", ""),
    "ringing": ("ringing", ""),
    "in-progress": ("answered", ""),
    "completed": ("hangup", "completed"),
    "busy": ("hangup", "busy"),
    "no-answer": ("hangup", "no_answer"),
    "canceled": ("hangup", "abandoned"),
    "failed": ("hangup", "failed"),
}


def twilio_event_name(params: Mapping[str, str]) -> str | None:
    mapped = TWILIO_STATUSES.get(str(params.get("CallStatus", "")).lower())
    return mapped[0] if mapped else None


def parse_twilio(payload: Mapping[str, Any]) -> CtiEvent:
    """A stored Twilio Voice status callback (its POST parameters plus `received_at`) as a CtiEvent."""
    mapped = TWILIO_STATUSES.get(str(payload.get("CallStatus", "")).lower())
    call_id = _text(payload, "CallSid")
    if mapped is None or not call_id:
        raise InvalidPayload("a Twilio status callback needs a CallSid and a known CallStatus")
    event, cause = mapped
    timestamp = payload.get("Timestamp")
    at: Any = payload.get("received_at")
    if isinstance(timestamp, str) and timestamp:
        with contextlib.suppress(TypeError, ValueError):
            at = parsedate_to_datetime(timestamp).isoformat()
    return CtiEvent(
        event=event,
        call_id=call_id,
        at=_moment(at, payload.get("received_at")),
        direction="in" if str(payload.get("Direction", "inbound")).lower() == "inbound" else "out",
        from_number=_text(payload, "From", 64),
        to_number=_text(payload, "To", 64),
        cause=cause,
        recording_url=_text(payload, "RecordingUrl", 2000),
    )
