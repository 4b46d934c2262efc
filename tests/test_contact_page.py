"""The contact page's public API: funnel per step and variant, containment, bookings, forms and bad input."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from contact import reports
from contact.bookings import book_callback, free_slots
from contact.handoff import join_email_contact
from contact.models import FunnelEvent, Visit
from contact.scenarios import publish_scenario
from contact.significance import MIN_SAMPLE_PER_VARIANT, two_proportion_z_test
from customers.models import Customer, Identity
from interactions.inbound import process_inbound_event
from interactions.models import Channel, Conversation, InboundEvent, Interaction
from interactions.phone.models import Callback
from interactions.services import receive_message
from interactions.visitors import sign_visitor_email
from routing.models import Queue
from tests.contact_support import ContactSetup, contact_setup, fresh_load


@pytest.fixture
def setup(chat_channel: Channel, support_queue: Queue, settings: Any) -> ContactSetup:
    fresh_load(settings)
    return contact_setup(chat=chat_channel, queue=support_queue)


def call(setup: ContactSetup, path: str, body: dict[str, Any], **headers: Any) -> Any:
    return Client().post(
        f"/contact/{setup.key}/api/{path}/", json.dumps(body), content_type="application/json", **headers
    )


def start(setup: ContactSetup, visit_id: str | None = None, **body: Any) -> str:
    response = call(setup, "start", body)
    assert response.status_code == 200, response.content
    visit = str(response.json()["visit"])
    if visit_id is not None:
        Visit.objects.filter(visit_id=visit).update(visit_id=visit_id)
        return visit_id
    return visit


def choose(setup: ContactSetup, visit: str, node: Any) -> dict[str, Any]:
    response = call(setup, "intent", {"visit": visit, "intent": node.pk})
    assert response.status_code == 200, response.content
    return dict(response.json())


def step(setup: ContactSetup, visit: str, name: str, node: Any = None, **extra: Any) -> Any:
    return call(setup, "step", {"visit": visit, "step": name, "intent": node.pk if node else None, **extra})


def test_it_serves_the_tree_of_the_site_in_the_visitors_language(setup: ContactSetup) -> None:
    tree = call(setup, "start", {"language": "fr"}).json()["tree"]

    assert tree == [
        {
            "id": setup.billing.pk,
            "label": "Facturation",
            "description": "",
            "icon": "€",
            "intents": [
                {"id": setup.meter.pk, "label": "Transmettre un relevé", "description": "", "icon": ""},
                {"id": setup.contract.pk, "label": "Souscrire un contrat", "description": "", "icon": ""},
            ],
        }
    ]
    page = Client().get(f"/contact/{setup.key}/")
    assert page.status_code == 200 and b"contact-page.js" in page.content


def test_it_finds_an_intent_by_text_with_the_intent_detection(setup: ContactSetup) -> None:
    visit = start(setup)

    results = call(setup, "search", {"visit": visit, "q": "je veux un nouveau contrat"}).json()["results"]

    assert results[0]["id"] == setup.contract.pk


def test_it_counts_a_scripted_set_of_visits_exactly_per_step_and_variant(setup: ContactSetup, alice: Any) -> None:
    publish_scenario(
        node=setup.meter,
        variant="B",
        answer_en="Enter your reading online.",
        solutions=[{"kind": "chat"}, {"kind": "self_service", "target": "https://help.example/meter"}],
    )
    # Variants by SHA-256 of the visit id: scripted-0, 2, 6, 7 see A; scripted-1, 3, 4, 5 see B.
    visits = {n: start(setup, f"scripted-{n}") for n in range(8)}
    for n in (0, 2, 6, 1, 3, 4, 5):
        shown = choose(setup, visits[n], setup.meter)
        assert shown["variant"] == ("A" if n in (0, 2, 6) else "B")
    for n in (0, 2, 6, 1, 3, 4):
        step(setup, visits[n], "answer_shown", setup.meter)
    for n in (0, 1, 3):
        step(setup, visits[n], "helpful_yes", setup.meter)
    for n in (2, 4):
        step(setup, visits[n], "helpful_no", setup.meter)
    sent = call(
        setup, "email", {"visit": visits[2], "intent": setup.meter.pk, "email": "eve@example.com", "text": "Hello"}
    )
    assert sent.status_code == 200, sent.content
    step(setup, visits[4], "solution_chosen", setup.meter, solution="self_service")
    step(setup, visits[6], "abandoned", setup.meter)
    step(setup, visits[5], "abandoned", setup.meter)
    step(setup, visits[7], "abandoned")
    assert step(setup, visits[6], "abandoned", setup.meter).json() == {"stored": False}, "a resent beacon"

    counts = reports.step_counts(node=setup.meter)

    zero = dict.fromkeys(reports.STEPS, 0)
    assert counts["A"] == zero | {
        "intent_chosen": 3,
        "answer_shown": 3,
        "helpful_yes": 1,
        "helpful_no": 1,
        "solutions_offered": 3,
        "solution_chosen": 1,
        "contact_created": 1,
        "abandoned": 1,
    }
    assert counts["B"] == zero | {
        "intent_chosen": 4,
        "answer_shown": 3,
        "helpful_yes": 2,
        "helpful_no": 1,
        "solutions_offered": 4,
        "solution_chosen": 1,
        "abandoned": 1,
    }
    assert reports.solution_counts(node=setup.meter) == {"A": {"email": 1}, "B": {"self_service": 1}}
    assert reports.abandonment_by_step(node=setup.meter) == {
        "A": {"answer_shown": 1},
        "B": {"solutions_offered": 1},
    }
    before_any_intent = FunnelEvent.objects.get(step="abandoned", node=None)
    assert before_any_intent.visit.visit_id == "scripted-7" and before_any_intent.data["after"] == "page_view"
    offered = FunnelEvent.objects.get(visit__visit_id="scripted-1", step="solutions_offered")
    assert offered.data["offered"][0] == {"kind": "chat", "rule": "short_wait", "ewt": 0.0}


def test_it_turns_the_form_into_an_email_conversation_through_the_inbound_pipeline(setup: ContactSetup) -> None:
    visit = start(setup)
    choose(setup, visit, setup.contract)

    body = {"visit": visit, "intent": setup.contract.pk, "email": "eve@example.com", "name": "Eve", "text": "A quote?"}
    assert call(setup, "email", body).status_code == 200
    assert call(setup, "email", body).json()["error"] == "already_done", "a double submit stores nothing twice"

    event = InboundEvent.objects.get(channel=setup.email)
    process_inbound_event(event_id=event.pk)
    contact = FunnelEvent.objects.get(step="contact_created")
    joined = join_email_contact(contact=contact)
    assert joined is not None
    conversation = Conversation.objects.get(pk=joined)
    assert conversation.channel == setup.email
    assert conversation.customer.identities.get().address == "eve@example.com"
    assert Interaction.objects.get(conversation=conversation).text.strip() == "A quote?"
    assert conversation.routing_intent.intent == setup.contract.intent


def test_a_verified_customers_self_service_yes_is_not_contained_when_they_email_two_days_later(
    setup: ContactSetup,
) -> None:
    carla = Customer.objects.create(display_name="Carla")
    Identity.objects.create(customer=carla, kind=Identity.Kind.EMAIL, address="carla@example.com")
    signed = sign_visitor_email(channel=setup.site.chat_channel, email="carla@example.com")
    visit = start(setup, identity={"email": "carla@example.com", "identifier_hash": signed})
    assert Visit.objects.get(visit_id=visit).customer == carla
    choose(setup, visit, setup.meter)
    step(setup, visit, "answer_shown", setup.meter)
    step(setup, visit, "helpful_yes", setup.meter)
    assert reports.contained_visits(node=setup.meter) == {"A": (1, 1)}

    later = receive_message(customer=carla, channel=setup.email, external_id="<later@acme>", text="Still wrong")
    yes = FunnelEvent.objects.get(step="helpful_yes")
    Conversation.objects.filter(pk=later.conversation_id).update(created_at=yes.created_at + timedelta(days=2))

    assert reports.contained_visits(node=setup.meter) == {"A": (1, 0)}
    Conversation.objects.filter(pk=later.conversation_id).update(created_at=yes.created_at + timedelta(days=8))
    assert reports.contained_visits(node=setup.meter) == {"A": (1, 1)}, "after 7 days it is a new need"


def test_it_computes_the_z_test_on_a_known_table() -> None:
    result = two_proportion_z_test(successes_a=120, total_a=1000, successes_b=150, total_b=1000)
    # p̂ = 0.135, SE = √(0.135 × 0.865 × 2/1000) = 0.015282, z = −0.03 / SE = −1.9631, p = erfc(1.9631/√2) = 0.0496
    assert (result.z, result.p_value, result.significant) == (-1.963, 0.04964, True)
    small = two_proportion_z_test(successes_a=10, total_a=40, successes_b=25, total_b=40)
    assert small.p_value < 0.01 and not small.significant, f"under {MIN_SAMPLE_PER_VARIANT} visits: not concluded"


def test_it_books_a_callback_in_a_free_slot_and_refuses_a_full_one(setup: ContactSetup) -> None:
    slot = free_slots(site=setup.site)[0]
    booked = []
    for n in range(2):
        visit = start(setup)
        choose(setup, visit, setup.contract)
        body = {"visit": visit, "intent": setup.contract.pk, "slot": slot.start.isoformat(), "phone": f"+3361234567{n}"}
        response = call(setup, "callback", body)
        assert response.status_code == 200, response.content
        booked.append(visit)
        assert call(setup, "callback", body).json()["error"] == "already_done", "nothing booked twice"
    visit = start(setup)
    choose(setup, visit, setup.contract)

    full = call(
        setup,
        "callback",
        {"visit": visit, "intent": setup.contract.pk, "slot": slot.start.isoformat(), "phone": "+33612345679"},
    )

    assert full.status_code == 400 and full.json()["error"] == "slot_full"
    callbacks = Callback.objects.filter(window_start=slot.start)
    assert callbacks.count() == 2 and {c.channel for c in callbacks} == {setup.voice}
    assert slot.start not in [s.start for s in free_slots(site=setup.site)]
    created = FunnelEvent.objects.filter(step="contact_created", solution="callback")
    assert {e.callback_id for e in created} == {c.pk for c in callbacks}


def test_it_refuses_bad_input_clearly_and_stores_nothing(
    setup: ContactSetup, support_queue: Queue, chat_channel: Channel, settings: Any
) -> None:
    other_chat = Channel.objects.create(kind=Channel.Kind.CHAT, name="Other site", queue=support_queue)
    other = contact_setup(chat=other_chat, queue=support_queue)
    visit = start(setup)
    choose(setup, visit, setup.contract)
    callbacks_before = Callback.objects.count()

    unknown = Client().post("/contact/nope/api/start/", "{}", content_type="application/json")
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_site"
    assert Client().get("/contact/nope/").status_code == 404
    foreign = call(setup, "intent", {"visit": visit, "intent": other.contract.pk})
    assert foreign.status_code == 400 and foreign.json()["error"] == "unknown_intent"
    past = call(
        setup,
        "callback",
        {"visit": visit, "intent": setup.contract.pk, "slot": (timezone.now() - timedelta(hours=1)).isoformat()},
    )
    assert past.status_code == 400 and past.json()["error"] == "slot_past"
    support_queue.business_hours = {"0": [["09:00", "10:00"]]}
    support_queue.save()
    night = (timezone.now() + timedelta(days=1)).replace(hour=2, minute=0, second=0, microsecond=0)
    closed = call(
        setup,
        "callback",
        {"visit": visit, "intent": setup.contract.pk, "slot": night.isoformat(), "phone": "+33612345678"},
    )
    assert closed.status_code == 400 and closed.json()["error"] == "slot_closed"
    refused = call(setup, "start", {}, HTTP_ORIGIN="https://evil.example")
    assert refused.status_code == 403 and refused.json()["error"] == "origin_refused"
    allowed = call(setup, "start", {}, HTTP_ORIGIN="http://shop.example")
    assert allowed.status_code == 200 and allowed["Access-Control-Allow-Origin"] == "http://shop.example"
    assert Callback.objects.count() == callbacks_before
    assert FunnelEvent.objects.filter(node=other.contract).count() == 0


def test_it_rate_limits_a_flood_of_visits_from_one_address(setup: ContactSetup, settings: Any) -> None:
    settings.OMNIDESK_CONTACT_VISITS_PER_MINUTE = 5
    statuses = [call(setup, "start", {}).status_code for _n in range(8)]

    assert statuses == [200] * 5 + [429] * 3
    assert Visit.objects.count() == 5
    assert call(setup, "start", {}).json()["error"] == "rate_limited"


def test_it_books_a_slot_that_began_a_moment_ago_until_it_ends(setup: ContactSetup) -> None:
    # The page offers the next slot even when it starts a second later: the visitor's click then lands inside it.
    site = setup.site
    site.slot_minutes, site.booking_lead_minutes = 30, 0
    site.save()
    length = 30 * 60
    running = timezone.now().replace(microsecond=0)
    running = running - timedelta(seconds=int(running.timestamp()) % length)
    booked = book_callback(site=site, start=running, number="+33612345678", name="Ana", note="")
    assert (booked.window_start, booked.window_end) == (running, running + timedelta(seconds=length))
    with pytest.raises(ValidationError) as ended:
        book_callback(site=site, start=running - timedelta(seconds=length), number="+33612345678", name="", note="")
    assert ended.value.code == "slot_past"
