"""Issue 11's abuse suite, the visibility share: hostile authorization inputs, each with its exact outcome.

IDOR probes (other queues' and confidential ids, negative, huge and non-numeric ids, notes' attachment ids), forged
channel ids on reply, callbacks with other customers' numbers or other teams' channels, offers of other agents, call
actions by the wrong agent, staff posing as supervisors and a deactivated account still holding a session or a token.
The attackers: Alice (Support, outsider to the confidential Fraud queue), Oscar (Billing), Stan (staff, not a
supervisor) and Dora (deactivated). tests/vis_support.py builds the objects they aim at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from interactions.models import Interaction
from interactions.phone.models import Call, Callback
from routing.models import Offer
from tests.vis_support import (
    CALL_NOTES,
    FRAUD_MESSAGE_TEXT,
    NOTE_TEXT,
    World,
    world_fixture,  # noqa: F401 - the `world` fixture
)

pytestmark = pytest.mark.django_db

HUGE = "9" * 30


@dataclass
class Case:
    who: str
    method: str
    url: Callable[[World], str]
    status: int
    data: Callable[[World], dict[str, Any]] = field(default=lambda w: {})
    api: bool = True
    # After the request: what must (not) have happened, beyond the status.
    check: Callable[[World, Any], None] = field(default=lambda w, r: None)


def no_outbound(w: World, r: Any) -> None:
    assert not Interaction.objects.filter(kind="message", direction="out").exists()


def no_secret(w: World, r: Any) -> None:
    body = r.content.decode()
    for secret in (NOTE_TEXT, CALL_NOTES, FRAUD_MESSAGE_TEXT):
        assert secret not in body


def no_customer_id(w: World, r: Any) -> None:
    assert "customer_id" not in r.json()
    assert str(w.fraud.customer.pk) not in r.content.decode()


def call_untouched(w: World, r: Any) -> None:
    for call in Call.objects.all():
        assert (call.notes, call.state, call.link_status) == (CALL_NOTES, Call.State.WRAP_UP, "suggested")


def callback_untouched(w: World, r: Any) -> None:
    assert set(Callback.objects.values_list("status", flat=True)) == {Callback.Status.ROUTED}
    assert Callback.objects.count() == 2


def offers_untouched(w: World, r: Any) -> None:
    assert set(Offer.objects.values_list("state", flat=True)) == {Offer.State.PENDING}


def all_redacted(w: World, r: Any) -> None:
    results = r.json()["results"]
    assert results and all(entry["redacted"] and entry["text"] == "" for entry in results)


def empty_results(w: World, r: Any) -> None:
    assert r.json()["results"] == []


def callback_in_support(w: World, r: Any) -> None:
    callback = Callback.objects.get(pk=r.json()["id"])
    assert callback.channel_id == w.support.voice.pk
    assert callback.customer.display_name == "Fraud customer", "never renamed by the caller"


def no_new_callback(w: World, r: Any) -> None:
    assert Callback.objects.count() == 2


def sup(w: World) -> int:
    return int(w.support.conversation.pk)


def fraud(w: World) -> int:
    return int(w.fraud.conversation.pk)


CASES: dict[str, Case] = {
    # --- conversation ids: another team's (read-only), confidential (404), malformed (404) ---------------------------
    "oscar-api-open-confidential": Case("oscar", "get", lambda w: f"/api/conversations/{fraud(w)}/", 404),
    "oscar-desk-open-confidential": Case("oscar", "get", lambda w: f"/desk/conversations/{fraud(w)}/", 404, api=False),
    "alice-api-open-confidential": Case("alice", "get", lambda w: f"/api/conversations/{fraud(w)}/", 404),
    "oscar-api-open-other-team-read-only-no-notes": Case(
        "oscar", "get", lambda w: f"/api/conversations/{sup(w)}/", 200, check=no_secret
    ),
    "alice-api-negative-id": Case("alice", "get", lambda w: "/api/conversations/-1/", 404),
    "alice-api-huge-id": Case("alice", "get", lambda w: f"/api/conversations/{HUGE}/", 404),
    "alice-api-non-numeric-id": Case("alice", "get", lambda w: "/api/conversations/abc/", 404),
    "alice-api-sql-ish-id": Case("alice", "get", lambda w: "/api/conversations/1%20OR%201=1/", 404),
    "alice-desk-huge-id": Case("alice", "get", lambda w: f"/desk/conversations/{HUGE}/", 404, api=False),
    "alice-api-reply-confidential": Case(
        "alice",
        "post",
        lambda w: f"/api/conversations/{fraud(w)}/reply/",
        404,
        data=lambda w: {"text": "hi"},
        check=no_outbound,
    ),
    "alice-api-reply-huge-id": Case(
        "alice", "post", lambda w: f"/api/conversations/{HUGE}/reply/", 404, data=lambda w: {"text": "hi"}
    ),
    "oscar-api-reply-other-team": Case(
        "oscar",
        "post",
        lambda w: f"/api/conversations/{sup(w)}/reply/",
        403,
        data=lambda w: {"text": "hi"},
        check=no_outbound,
    ),
    "oscar-api-resolve-other-team": Case("oscar", "post", lambda w: f"/api/conversations/{sup(w)}/resolve/", 403),
    "oscar-api-status-other-team": Case(
        "oscar", "post", lambda w: f"/api/conversations/{sup(w)}/status/", 403, data=lambda w: {"status": "pending"}
    ),
    "oscar-api-transfer-other-team-to-himself": Case(
        "oscar",
        "post",
        lambda w: f"/api/conversations/{sup(w)}/transfer/",
        403,
        data=lambda w: {"agent": w.users["oscar"].pk, "note": "mine now"},
    ),
    "alice-api-transfer-confidential": Case(
        "alice",
        "post",
        lambda w: f"/api/conversations/{fraud(w)}/transfer/",
        404,
        data=lambda w: {"queue": w.support.queue.pk, "note": "give"},
    ),
    "oscar-api-intent-other-team": Case(
        "oscar", "post", lambda w: f"/api/conversations/{sup(w)}/intent/", 403, data=lambda w: {"intent": "card-lost"}
    ),
    "oscar-desk-reply-other-team": Case(
        "oscar",
        "post",
        lambda w: f"/desk/conversations/{sup(w)}/reply/",
        403,
        data=lambda w: {"text": "hi"},
        api=False,
        check=no_outbound,
    ),
    "oscar-desk-resolve-other-team": Case(
        "oscar", "post", lambda w: f"/desk/conversations/{sup(w)}/resolve/", 403, api=False
    ),
    "oscar-desk-status-other-team": Case(
        "oscar",
        "post",
        lambda w: f"/desk/conversations/{sup(w)}/status/",
        403,
        data=lambda w: {"status": "pending"},
        api=False,
    ),
    "oscar-desk-transfer-other-team": Case(
        "oscar",
        "post",
        lambda w: f"/desk/conversations/{sup(w)}/transfer/",
        403,
        data=lambda w: {"target": f"agent:{w.users['oscar'].pk}"},
        api=False,
    ),
    "alice-desk-intent-confidential": Case(
        "alice",
        "post",
        lambda w: f"/desk/conversations/{fraud(w)}/intent/",
        404,
        data=lambda w: {"intent": "card-lost"},
        api=False,
    ),
    # --- attachment ids: a note's file, a confidential case's files, malformed ---------------------------------------
    "oscar-note-attachment": Case(
        "oscar", "get", lambda w: f"/desk/attachments/{w.support.note_attachment.pk}/", 404, api=False
    ),
    "alice-confidential-attachment": Case(
        "alice", "get", lambda w: f"/desk/attachments/{w.fraud.attachment.pk}/", 404, api=False
    ),
    "alice-confidential-note-attachment": Case(
        "alice", "get", lambda w: f"/desk/attachments/{w.fraud.note_attachment.pk}/", 404, api=False
    ),
    "oscar-attachment-zero": Case("oscar", "get", lambda w: "/desk/attachments/0/", 404, api=False),
    "oscar-attachment-huge": Case("oscar", "get", lambda w: f"/desk/attachments/{HUGE}/", 404, api=False),
    "alice-confidential-email-body": Case(
        "alice", "get", lambda w: f"/desk/email/{w.fraud.email_message.pk}/body/", 404, api=False
    ),
    # --- forged reply channels ---------------------------------------------------------------------------------------
    "alice-reply-through-billing-channel": Case(
        "alice",
        "post",
        lambda w: f"/api/conversations/{sup(w)}/reply/",
        400,
        data=lambda w: {"text": "hi", "channel": w.billing_chat.pk},
        check=no_outbound,
    ),
    "alice-reply-through-fraud-mailbox": Case(
        "alice",
        "post",
        lambda w: f"/api/conversations/{sup(w)}/reply/",
        400,
        data=lambda w: {"text": "hi", "channel": w.fraud.email.pk},
        check=no_outbound,
    ),
    "alice-reply-channel-not-a-number": Case(
        "alice",
        "post",
        lambda w: f"/api/conversations/{sup(w)}/reply/",
        400,
        data=lambda w: {"text": "hi", "channel": "abc"},
        check=no_outbound,
    ),
    "alice-reply-channel-negative": Case(
        "alice",
        "post",
        lambda w: f"/api/conversations/{sup(w)}/reply/",
        400,
        data=lambda w: {"text": "hi", "channel": -5},
        check=no_outbound,
    ),
    "alice-reply-channel-huge": Case(
        "alice",
        "post",
        lambda w: f"/api/conversations/{sup(w)}/reply/",
        400,
        data=lambda w: {"text": "hi", "channel": 2**62},
        check=no_outbound,
    ),
    "alice-desk-reply-through-fraud-line": Case(
        "alice",
        "post",
        lambda w: f"/desk/conversations/{sup(w)}/reply/",
        422,
        data=lambda w: {"text": "hi", "channel": str(w.fraud.voice.pk)},
        api=False,
        check=no_outbound,
    ),
    # --- callbacks ---------------------------------------------------------------------------------------------------
    "alice-callback-through-fraud-line": Case(
        "alice",
        "post",
        lambda w: "/api/callbacks/",
        403,
        data=lambda w: {"number": w.fraud.phone, "channel": w.fraud.voice.pk},
        check=no_new_callback,
    ),
    "alice-callback-through-a-chat-channel": Case(
        "alice",
        "post",
        lambda w: "/api/callbacks/",
        400,
        data=lambda w: {"number": w.support.phone, "channel": w.support.chat.pk},
        check=no_new_callback,
    ),
    "alice-callback-unknown-channel": Case(
        "alice",
        "post",
        lambda w: "/api/callbacks/",
        400,
        data=lambda w: {"number": w.support.phone, "channel": 999_999_999},
        check=no_new_callback,
    ),
    "alice-callback-with-fraud-customers-number-stays-in-support": Case(
        "alice",
        "post",
        lambda w: "/api/callbacks/",
        201,
        data=lambda w: {"number": w.fraud.phone, "name": "Renamed by Alice"},
        check=callback_in_support,
    ),
    "oscar-callback-with-support-customers-number": Case(
        "oscar",
        "post",
        lambda w: "/api/callbacks/",
        400,
        data=lambda w: {"number": w.support.phone},
        check=no_new_callback,
    ),
    "alice-callback-script-as-number": Case(
        "alice",
        "post",
        lambda w: "/api/callbacks/",
        400,
        data=lambda w: {"number": "<script>alert(1)</script>"},
        check=no_new_callback,
    ),
    "oscar-callback-outcome-other-team": Case(
        "oscar",
        "post",
        lambda w: f"/api/callbacks/{w.support.callback.pk}/outcome/",
        403,
        data=lambda w: {"outcome": "reached"},
        check=callback_untouched,
    ),
    "alice-callback-outcome-confidential": Case(
        "alice",
        "post",
        lambda w: f"/api/callbacks/{w.fraud.callback.pk}/outcome/",
        404,
        data=lambda w: {"outcome": "cancelled"},
        check=callback_untouched,
    ),
    # --- calls -----------------------------------------------------------------------------------------------------
    "oscar-wrap-up-other-agents-call": Case(
        "oscar",
        "post",
        lambda w: f"/api/calls/{w.support.call.pk}/wrap-up/",
        403,
        data=lambda w: {"disposition": ""},
        check=call_untouched,
    ),
    "alice-wrap-up-confidential-call": Case(
        "alice",
        "post",
        lambda w: f"/api/calls/{w.fraud.call.pk}/wrap-up/",
        404,
        data=lambda w: {"disposition": ""},
        check=call_untouched,
    ),
    "alice-notes-on-confidential-call": Case(
        "alice",
        "post",
        lambda w: f"/api/calls/{w.fraud.call.pk}/notes/",
        404,
        data=lambda w: {"notes": "overwritten"},
        check=call_untouched,
    ),
    "oscar-notes-on-other-agents-call": Case(
        "oscar",
        "post",
        lambda w: f"/api/calls/{w.support.call.pk}/notes/",
        403,
        data=lambda w: {"notes": "overwritten"},
        check=call_untouched,
    ),
    "oscar-link-other-agents-call": Case(
        "oscar",
        "post",
        lambda w: f"/api/calls/{w.support.call.pk}/link/",
        403,
        data=lambda w: {"confirm": False},
        check=call_untouched,
    ),
    "oscar-desk-name-caller-of-other-agents-call": Case(
        "oscar",
        "post",
        lambda w: f"/phone/calls/{w.support.call.pk}/caller/",
        403,
        data=lambda w: {"name": "Mallory"},
        api=False,
    ),
    "alice-desk-read-confidential-call": Case(
        "alice", "get", lambda w: f"/phone/calls/{w.fraud.call.pk}/", 404, api=False
    ),
    "oscar-desk-open-other-team-without-notes": Case(
        "oscar", "get", lambda w: f"/desk/conversations/{sup(w)}/", 200, api=False, check=no_secret
    ),
    "oscar-360-of-a-customer-with-a-fraud-case": Case(
        "oscar", "get", lambda w: f"/customers/{w.support.customer.pk}/", 200, api=False, check=no_secret
    ),
    # --- offers of other agents --------------------------------------------------------------------------------------
    "oscar-accept-alices-offer": Case(
        "oscar", "post", lambda w: f"/api/offers/{w.support.offer.pk}/accept/", 404, check=offers_untouched
    ),
    "alice-decline-fionas-offer": Case(
        "alice", "post", lambda w: f"/api/offers/{w.fraud.offer.pk}/decline/", 404, check=offers_untouched
    ),
    "oscar-desk-accept-alices-offer": Case(
        "oscar", "post", lambda w: f"/desk/offers/{w.support.offer.pk}/accept/", 404, api=False, check=offers_untouched
    ),
    # --- customers: disclosure through 409s, timelines, search -------------------------------------------------------
    "oscar-409-probe-phone-owner": Case(
        "oscar",
        "post",
        lambda w: "/api/customers/",
        409,
        data=lambda w: {"display_name": "Probe", "identities": [{"kind": "phone", "address": w.fraud.phone}]},
        check=no_customer_id,
    ),
    "oscar-409-probe-email-owner-via-identities": Case(
        "oscar",
        "post",
        lambda w: f"/api/customers/{w.support.customer.pk}/identities/",
        409,
        data=lambda w: {"kind": "email", "address": "FRAUD@example.com"},
        check=no_customer_id,
    ),
    "alice-timeline-of-confidential-customer-redacted": Case(
        "alice", "get", lambda w: f"/api/customers/{w.fraud.customer.pk}/timeline/", 200, check=all_redacted
    ),
    "alice-confidential-queue-ewt": Case("alice", "get", lambda w: f"/api/queues/{w.fraud.queue.pk}/ewt/", 404),
    "oscar-status-filter-script": Case(
        "oscar", "get", lambda w: "/api/conversations/?status=<script>", 200, check=empty_results
    ),
    # --- staff posing as supervisors ---------------------------------------------------------------------------------
    "stan-supervisor-view": Case("stan", "get", lambda w: "/desk/supervisor/", 403, api=False),
    "stan-agent-capacity": Case(
        "stan", "post", lambda w: f"/api/agents/{w.users['alice'].pk}/capacity/", 403, data=lambda w: {"chat": 9}
    ),
    "stan-edit-organization": Case(
        "stan", "patch", lambda w: f"/api/organizations/{w.organization.pk}/", 403, data=lambda w: {"name": "Pwned"}
    ),
    "stan-merge-customers": Case(
        "stan",
        "post",
        lambda w: f"/api/customers/{w.support.customer.pk}/merge/",
        403,
        data=lambda w: {"into": w.fraud.customer.pk},
    ),
    "stan-export-customer": Case(
        "stan", "get", lambda w: f"/customers/{w.fraud.customer.pk}/export.json", 403, api=False
    ),
    "alice-export-confidential-customer": Case(
        "alice", "get", lambda w: f"/customers/{w.fraud.customer.pk}/export.json", 403, api=False
    ),
    # --- a deactivated account: forced API identity, a token, an old session ------------------------------------------
    "dora-forced-api-open": Case("dora", "get", lambda w: f"/api/conversations/{sup(w)}/", 404),
    "dora-forced-api-customers": Case("dora", "get", lambda w: "/api/customers/", 200, check=empty_results),
    "dora-forced-api-reply": Case(
        "dora",
        "post",
        lambda w: f"/api/conversations/{sup(w)}/reply/",
        404,
        data=lambda w: {"text": "still here"},
        check=no_outbound,
    ),
    "dora-token": Case("dora-token", "get", lambda w: "/api/conversations/", 403),
    "dora-old-session": Case("dora", "get", lambda w: f"/desk/conversations/{sup(w)}/", 302, api=False),
}


def client_for(world: World, case: Case) -> Any:
    if case.who == "dora-token":
        token = Token.objects.create(user=world.users["dora"])
        token_client = APIClient()
        token_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return token_client
    user = world.users[case.who]
    if case.api:
        # force_authenticate skips DRF's own is_active check: the access rule itself must refuse Dora.
        api_client = APIClient()
        api_client.force_authenticate(user)
        return api_client
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("name", list(CASES))
def test_it_refuses_or_neutralizes_the_hostile_input(world: World, name: str) -> None:
    case = CASES[name]
    client = client_for(world, case)
    url = case.url(world)
    if case.method == "get":
        response = client.get(url)
    elif case.api:
        response = getattr(client, case.method)(url, case.data(world), format="json")
    else:
        response = getattr(client, case.method)(url, case.data(world))
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)
    assert response.status_code == case.status, response.content[:300]
    case.check(world, response)


def test_it_has_at_least_forty_hostile_inputs() -> None:
    assert len(CASES) >= 40
