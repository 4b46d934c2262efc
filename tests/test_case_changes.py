"""Agents reshape cases (issue 14): split a message off into a new case, merge two cases, undo either — recorded."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from customers.models import Customer, Identity
from interactions import case_changes, services
from interactions.models import CaseChange, Channel, Conversation, Interaction
from routing.models import Assignment
from tests.clients import logged_in

pytestmark = pytest.mark.django_db


def write(customer: Customer, channel: Channel, text: str, *, external_id: str) -> Interaction:
    with transaction.atomic():
        return services.receive_message(customer=customer, channel=channel, external_id=external_id, text=text)


@pytest.fixture
def chat_then_mail(alice: Any, carla: Customer, chat_channel: Channel, email_channel: Channel) -> list[Interaction]:
    Identity.objects.create(customer=carla, kind=Identity.Kind.EMAIL, address="carla@example.com", verified=True)
    chat = write(carla, chat_channel, "Ma facture est fausse", external_id="c-1")
    mail = write(carla, email_channel, "Et ma commande ?", external_id="e-1")
    assert mail.conversation_id == chat.conversation_id
    return [chat, mail]


def entries_of(conversation_id: int) -> list[tuple[str, str]]:
    return list(
        Interaction.objects.filter(conversation_id=conversation_id)
        .exclude(kind=Interaction.Kind.SYSTEM)
        .order_by("created_at", "id")
        .values_list("channel__kind", "text")
    )


def test_it_splits_a_message_off_into_a_new_case_of_the_same_agent_and_undoes_it(
    alice: Any, chat_then_mail: list[Interaction]
) -> None:
    chat, mail = chat_then_mail
    case = chat.conversation

    change = case_changes.split_off(interaction=mail, by=alice)

    new_case = Conversation.objects.get(pk=change.target_id)
    assert entries_of(case.pk) == [("chat", "Ma facture est fausse")]
    assert entries_of(new_case.pk) == [("email", "Et ma commande ?")]
    assert new_case.assignee == alice and new_case.customer_id == case.customer_id
    assert change.kind == CaseChange.Kind.SPLIT and change.interaction_ids == [mail.pk]
    recorded = Interaction.objects.filter(kind=Interaction.Kind.SYSTEM, meta__case_change=change.pk)
    assert {entry.conversation_id for entry in recorded} == {case.pk, new_case.pk}, "recorded in both cases"

    case_changes.undo_case_change(change=change, by=alice)

    assert entries_of(case.pk) == [("chat", "Ma facture est fausse"), ("email", "Et ma commande ?")]
    new_case.refresh_from_db()
    assert new_case.status == Conversation.Status.RESOLVED and entries_of(new_case.pk) == []
    change.refresh_from_db()
    assert change.undone_at is not None and change.undone_by == alice
    assert all(e.meta.get("case_change_undone") for e in recorded.all()), "no Undo offered twice"
    with pytest.raises(ValidationError):
        case_changes.undo_case_change(change=change, by=alice)


def test_it_refuses_to_split_the_only_customer_message_or_an_agents_reply(
    alice: Any, carla: Customer, chat_channel: Channel
) -> None:
    only = write(carla, chat_channel, "Bonjour", external_id="c-1")
    with pytest.raises(ValidationError):
        case_changes.split_off(interaction=only, by=alice)
    reply = services.reply_to_conversation(conversation=only.conversation, author=alice, text="Bonjour Carla")
    with pytest.raises(ValidationError):
        case_changes.split_off(interaction=reply, by=alice)


def test_it_refuses_a_split_to_an_agent_of_another_team(oscar: Any, chat_then_mail: list[Interaction]) -> None:
    with pytest.raises(PermissionDenied):
        case_changes.split_off(interaction=chat_then_mail[1], by=oscar)


def test_it_merges_two_cases_of_the_customer_and_undo_restores_both(
    alice: Any, carla: Customer, chat_channel: Channel, email_channel: Channel
) -> None:
    first = write(carla, chat_channel, "Ma facture", external_id="c-1").conversation
    other = Conversation.objects.create(customer=carla, channel=email_channel, queue=email_channel.queue)
    Interaction.objects.create(conversation=other, customer=carla, channel=email_channel, direction="in", text="Suite")
    services.set_conversation_status(conversation=first, status=Conversation.Status.PENDING, by=alice)

    change = case_changes.merge_cases(source=first, target=other, by=alice)

    first.refresh_from_db()
    assert first.status == Conversation.Status.RESOLVED
    assert entries_of(other.pk) == [("chat", "Ma facture"), ("email", "Suite")]
    assert change.previous_status == Conversation.Status.PENDING and change.previous_assignee == alice

    case_changes.undo_case_change(change=change, by=alice)

    first.refresh_from_db()
    assert entries_of(first.pk) == [("chat", "Ma facture")] and entries_of(other.pk) == [("email", "Suite")]
    assert first.status == Conversation.Status.PENDING and first.assignee == alice, "back as it was"
    assert Assignment.objects.filter(conversation=first, agent=alice, ended_at__isnull=True).exists()


def test_it_refuses_to_merge_cases_of_two_customers(alice: Any, carla: Customer, chat_channel: Channel) -> None:
    mine = write(carla, chat_channel, "Bonjour", external_id="c-1").conversation
    someone = Customer.objects.create(display_name="Bruno")
    theirs = write(someone, chat_channel, "Bonjour", external_id="c-2").conversation
    with pytest.raises(ValidationError):
        case_changes.merge_cases(source=mine, target=theirs, by=alice)


def test_it_splits_and_undoes_from_the_desk_with_named_buttons(alice: Any, chat_then_mail: list[Interaction]) -> None:
    chat, mail = chat_then_mail
    client = logged_in("alice")
    page = client.get(f"/desk/conversations/{chat.conversation_id}/").content.decode()
    assert "Split this Email message off into a new case" in page

    response = client.post(f"/desk/entries/{mail.pk}/split/", HTTP_HX_REQUEST="true")
    change = CaseChange.objects.get()
    assert response.status_code == 200 and response["HX-Redirect"] == f"/desk/conversations/{change.target_id}/"
    page = client.get(f"/desk/conversations/{change.target_id}/").content.decode()
    assert "Undo the split" in page

    response = client.post(f"/desk/case-changes/{change.pk}/undo/", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == f"/desk/conversations/{chat.conversation_id}/"
    page = client.get(f"/desk/conversations/{chat.conversation_id}/").content.decode()
    assert "Undo the split" not in page
    assert Interaction.objects.get(pk=mail.pk).conversation_id == chat.conversation_id


def test_it_answers_a_refused_split_with_the_reason(alice: Any, carla: Customer, chat_channel: Channel) -> None:
    only = write(carla, chat_channel, "Bonjour", external_id="c-1")
    response = logged_in("alice").post(f"/desk/entries/{only.pk}/split/", HTTP_HX_REQUEST="true")
    assert response.status_code == 422 and "only message" in response.content.decode()
