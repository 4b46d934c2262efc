"""Next best action (issue 15, item 4): a scripted customer history ranks exactly; applying and dismissing are
recorded and change the ranking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from assist import next_action
from assist.models import CannedResponse, SuggestionFeedback
from customers.models import Customer, Identity
from interactions.models import Channel, Conversation, Interaction
from interactions.phone.models import Callback
from routing.models import ConversationIntent, Intent, Queue
from tests.clients import logged_in
from tests.factories import widget_message


@dataclass
class History:
    current: Conversation
    other_open: Conversation
    intent: Intent
    note: Interaction


def about(conversation: Conversation, intent: Intent) -> None:
    ConversationIntent.objects.update_or_create(conversation=conversation, defaults={"intent": intent})


def scripted_history(*, chat: Channel, email: Channel, fraud: Queue, alice: Any, fiona: Any) -> History:
    """Camille (French) writes in chat about her invoice. Before: two resolved billing conversations (email and
    chat), one still open by email about something else, a note of Alice's and a later one in a confidential queue."""
    billing = Intent.objects.create(
        key="billing",
        name="Billing",
        keywords=["facture", "invoice"],
        self_service_url="https://help.example/billing",
    )
    current = widget_message(chat, text="Ma facture est fausse").conversation
    Customer.objects.filter(pk=current.customer_id).update(display_name="Camille Durand", language="fr")
    customer = Customer.objects.get(pk=current.customer_id)
    Identity.objects.create(customer=customer, kind=Identity.Kind.PHONE, address="+33612345678")
    about(current, billing)
    for channel in (email, chat):
        earlier = Conversation.objects.create(
            customer=customer, channel=channel, queue=channel.queue, status=Conversation.Status.RESOLVED
        )
        about(earlier, billing)
    other_open = Conversation.objects.create(customer=customer, channel=email, queue=email.queue)
    note = Interaction.objects.create(
        conversation=other_open,
        customer=customer,
        channel=email,
        kind=Interaction.Kind.NOTE,
        direction=Interaction.Direction.OUTBOUND,
        author=alice,
        text="Credit note promised for March.",
    )
    hidden = Conversation.objects.create(
        customer=customer, channel=email, queue=fraud, status=Conversation.Status.RESOLVED
    )
    Interaction.objects.create(
        conversation=hidden,
        customer=customer,
        channel=email,
        kind=Interaction.Kind.NOTE,
        direction=Interaction.Direction.OUTBOUND,
        author=fiona,
        text="Fraud check in progress",
    )
    CannedResponse.objects.create(
        shortcut="billing", title="Billing", body="Hello {{customer.first_name}}", scope="global"
    )
    CannedResponse.objects.create(
        shortcut="billing",
        title="Facturation",
        body="Bonjour {{customer.first_name}}, je regarde votre facture.",
        language="fr",
        scope="global",
    )
    CannedResponse.objects.create(
        shortcut="invoice-copy", title="Invoice copy", body="Here is a copy of your invoice.", scope="global"
    )
    CannedResponse.objects.create(shortcut="hello", title="Hello", body="Hello!", scope="global")
    current = Conversation.objects.select_related("customer", "channel", "queue").get(pk=current.pk)
    return History(current, other_open, billing, note)


@pytest.fixture
def history(
    alice: Any, fiona: Any, fraud_queue: Queue, chat_channel: Channel, email_channel: Channel, hotline: Channel
) -> History:
    return scripted_history(chat=chat_channel, email=email_channel, fraud=fraud_queue, alice=alice, fiona=fiona)


def ranking(user: Any, conversation: Conversation) -> list[tuple[str, float]]:
    return [(s.key, s.score) for s in next_action.suggestions_for(user=user, conversation=conversation)]


def test_it_ranks_a_scripted_history_exactly(alice: Any, history: History) -> None:
    assert ranking(alice, history.current) == [
        ("canned:billing", 0.85),
        ("open_case", 0.75),
        ("callback", 0.7),
        ("canned:invoice-copy", 0.6),
        ("self_service", 0.55),
        ("last_note", 0.45),
    ]


def test_it_says_why_and_fills_each_suggestion_for_the_customer(alice: Any, history: History) -> None:
    by_key = {s.key: s for s in next_action.suggestions_for(user=alice, conversation=history.current)}
    canned = by_key["canned:billing"]
    assert canned.text == "Bonjour Camille, je regarde votre facture."
    assert canned.why == ["Written for the intent “Billing”.", "In the customer's language (fr)."]
    assert by_key["canned:invoice-copy"].why == ["Matches the intent “Billing” (invoice)."]
    assert by_key["callback"].why == ["The customer already contacted us 2 times about “Billing”."]
    assert by_key["callback"].extra["number"] == "+33612345678"
    assert by_key["open_case"].why == [f"This customer has an open case on Email (#{history.other_open.pk})."]
    assert by_key["self_service"].text == "https://help.example/billing"
    # Fiona's later note sits in a confidential queue Alice is not a member of: Alice gets her own note.
    assert by_key["last_note"].text == "Credit note promised for March."
    assert by_key["last_note"].extra["interaction_id"] == history.note.pk


def test_it_shows_the_panel_beside_the_conversation(alice: Any, history: History) -> None:
    page = logged_in("alice").get(f"/desk/conversations/{history.current.pk}/").content.decode()
    assert 'aria-labelledby="next-actions-heading"' in page
    assert page.index('data-key="canned:billing"') < page.index('data-key="open_case"')
    assert "The customer already contacted us 2 times about “Billing”." in page


def test_it_records_an_applied_suggestion_and_ranks_it_higher(alice: Any, history: History) -> None:
    response = logged_in("alice").post(
        f"/desk/conversations/{history.current.pk}/next-actions/feedback/",
        {"key": "self_service", "outcome": "accepted"},
    )
    assert response.status_code == 200
    feedback = SuggestionFeedback.objects.get()
    assert (feedback.key, feedback.outcome, feedback.intent, feedback.user) == (
        "self_service",
        "accepted",
        history.intent,
        alice,
    )
    # 0.55 × 2 × (1 + 1) / (1 + 0 + 2)
    assert ranking(alice, history.current)[:4] == [
        ("canned:billing", 0.85),
        ("open_case", 0.75),
        ("self_service", 0.7333),
        ("callback", 0.7),
    ]
    assert "Agents applied it 1 times and dismissed it 0 times for this intent." in response.content.decode()


def test_it_hides_a_dismissed_suggestion_and_lowers_it_for_the_same_intent_elsewhere(
    alice: Any, sophie: Any, history: History, chat_channel: Channel
) -> None:
    response = logged_in("alice").post(
        f"/desk/conversations/{history.current.pk}/next-actions/feedback/",
        {"key": "canned:billing", "outcome": "dismissed"},
    )
    assert response.status_code == 200
    assert 'data-key="canned:billing"' not in response.content.decode()
    assert ranking(alice, history.current)[0][0] == "open_case"
    # For Sophie the suggestion is still there, lower: 0.85 × 2 × 1 / 3.
    assert ranking(sophie, history.current) == [
        ("open_case", 0.75),
        ("callback", 0.7),
        ("canned:invoice-copy", 0.6),
        ("canned:billing", 0.5667),
        ("self_service", 0.55),
        ("last_note", 0.45),
    ]


def test_it_answers_twice_without_counting_twice(alice: Any, history: History) -> None:
    for outcome in ("dismissed", "accepted"):
        next_action.record_feedback(user=alice, conversation=history.current, key="open_case", outcome=outcome)
    assert list(SuggestionFeedback.objects.values_list("key", "outcome")) == [("open_case", "accepted")]


def test_it_requests_the_offered_callback_and_counts_it_applied(alice: Any, history: History) -> None:
    voice = Channel.objects.get(kind=Channel.Kind.VOICE)
    response = logged_in("alice").post(
        f"/desk/conversations/{history.current.pk}/next-actions/callback/",
        {"number": "+33612345678", "channel": str(voice.pk), "note": "About the invoice"},
    )
    assert response.status_code == 200
    assert "Callback to +33612345678 requested." in response.content.decode()
    callback = Callback.objects.get()
    assert (callback.number, callback.note, callback.channel) == ("+33612345678", "About the invoice", voice)
    assert SuggestionFeedback.objects.filter(key="callback", outcome="accepted").count() == 1


def test_it_refuses_an_unknown_suggestion_and_other_teams(alice: Any, oscar: Any, history: History) -> None:
    url = f"/desk/conversations/{history.current.pk}/next-actions/feedback/"
    refused = logged_in("alice").post(url, {"key": "canned:nope", "outcome": "accepted"})
    assert refused.status_code == 422
    assert "Unknown suggestion." in refused.content.decode()
    assert logged_in("oscar").post(url, {"key": "callback", "outcome": "accepted"}).status_code == 403
    assert next_action.suggestions_for(user=oscar, conversation=history.current) == []
    assert not SuggestionFeedback.objects.exists()


def test_it_offers_no_callback_before_two_earlier_contacts(alice: Any, history: History) -> None:
    ConversationIntent.objects.filter(conversation__status=Conversation.Status.RESOLVED).first().delete()  # type: ignore[union-attr]
    assert "callback" not in [key for key, _score in ranking(alice, history.current)]


@pytest.mark.parametrize(("accepted", "dismissed", "expected"), [(0, 0, 1.0), (3, 0, 1.6), (0, 2, 0.5), (1, 1, 1.0)])
def test_it_smooths_the_acceptance_rate(accepted: int, dismissed: int, expected: float) -> None:
    assert next_action.acceptance_multiplier(accepted=accepted, dismissed=dismissed) == pytest.approx(expected)
