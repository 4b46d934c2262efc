"""Click-to-call: the desk asks the channel's telephony endpoint to place a call; the call itself then appears from
its CTI events like any other.

The request is a JSON POST to `channel.config["click_to_call_url"]`, signed like the CTI webhook (same secret,
same headers), with the call id the PBX must use in its events:
    {"call_id": "c2c-…", "to": "+33612345678", "agent": "alice", "extension": "201"}
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import httpx
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from customers.models import Customer, Identity
from customers.services import normalize_phone
from interactions.intake import timestamped_signature
from interactions.models import Channel
from interactions.phone.cti import SIGNATURE_HEADER, TIMESTAMP_HEADER
from interactions.phone.models import Call

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 5.0


def dialing_channel(channel: Channel | None = None) -> Channel:
    """The phone channel that places calls: the one given, else the first active one with an endpoint."""
    channels = Channel.objects.filter(kind=Channel.Kind.VOICE, is_active=True).select_related("queue")
    if channel is not None:
        channels = channels.filter(pk=channel.pk)
    for candidate in channels.order_by("pk"):
        if (candidate.config or {}).get("click_to_call_url"):
            return candidate
    raise ValidationError(_("No phone channel has a telephony endpoint for click-to-call."), code="no_endpoint")


def extension_of(channel: Channel, agent: Any) -> str:
    for extension, username in ((channel.config or {}).get("extensions") or {}).items():
        if str(username) == agent.get_username():
            return str(extension)
    return ""


def number_to_call(customer: Customer, number: str | None) -> str:
    if number:
        return normalize_phone(number)
    phone = customer.identities.filter(kind=Identity.Kind.PHONE).order_by("pk").first()
    if phone is None:
        raise ValidationError(_("This customer has no phone number."), code="no_number")
    return phone.address


def place_call(*, agent: Any, customer: Customer, number: str | None = None, channel: Channel | None = None) -> Call:
    """Ask the telephony endpoint to call `customer` for `agent`. ValidationError when it cannot or will not."""
    channel = dialing_channel(channel)
    e164 = number_to_call(customer, number)
    call_id = f"c2c-{uuid.uuid4().hex}"
    # Committed before the request: the provider's first events may arrive before its HTTP answer does, and must
    # find the agent and the customer this call is for.
    with transaction.atomic():
        call = Call.objects.create(
            channel=channel,
            call_id=call_id,
            direction="out",
            raw_number=e164,
            number=e164,
            customer=customer,
            target_agent=agent,
            agent=agent,
            state=Call.State.REQUESTED,
        )
    body = json.dumps(
        {"call_id": call_id, "to": e164, "agent": agent.get_username(), "extension": extension_of(channel, agent)}
    ).encode()
    headers = {"Content-Type": "application/json"}
    secret = (channel.secrets or {}).get("cti_secret", "")
    if secret:
        timestamp = str(int(time.time()))
        headers.update(
            {
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: timestamped_signature(secret=secret, timestamp=timestamp, body=body),
            }
        )
    try:
        response = httpx.post(
            channel.config["click_to_call_url"], content=body, headers=headers, timeout=TIMEOUT_SECONDS
        )
        problem = None if response.is_success else f"HTTP {response.status_code}"
    except httpx.HTTPError as error:
        problem = type(error).__name__
    if problem is not None:
        logger.warning("click-to-call %s refused by the telephony endpoint: %s", call_id, problem)
        Call.objects.filter(pk=call.pk, state=Call.State.REQUESTED, interaction__isnull=True).delete()
        raise ValidationError(
            _("The telephony system did not place the call (%(problem)s).") % {"problem": problem}, code="refused"
        )
    return call
