"""Merging Carla's two customer records (her website chat and her emails), and undoing it."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError

from customers.merge import duplicate_suggestions, merge_customers, unmerge_customers
from customers.models import Customer, Identity, MergeRecord
from interactions.models import Channel, Conversation
from interactions.selectors import customer_timeline
from routing.models import AgentProfile
from tests.factories import customer_named, widget_message


def timeline_ids(customer: Customer) -> list[int]:
    return [interaction.pk for interaction in customer_timeline(customer, limit=1000)]


def identity_addresses(customer: Customer) -> set[tuple[str, str]]:
    return set(customer.identities.values_list("kind", "address"))


def state_of(*customers: Customer) -> list[tuple[Any, ...]]:
    """Everything a merge may change about these customers, read fresh from the database."""
    state = []
    for customer in Customer.objects.filter(pk__in=[c.pk for c in customers]).order_by("pk"):
        state.append(
            (
                customer.pk,
                customer.display_name,
                customer.language,
                customer.attributes,
                customer.merged_into_id,
                customer.merged_at,
                timeline_ids(customer),
                sorted(customer.conversations.values_list("pk", flat=True)),
                identity_addresses(customer),
            )
        )
    return state


@pytest.fixture
def carla_on_the_website(chat_channel: Channel) -> Customer:
    """Carla as the website knows her: two chat messages."""
    widget_message(chat_channel, visitor="carla-visitor", text="Bonjour")
    widget_message(chat_channel, visitor="carla-visitor", text="Ma commande ?")
    return Identity.objects.get(kind=Identity.Kind.WIDGET, address="carla-visitor").customer


@pytest.fixture
def carla_by_email(chat_channel: Channel) -> Customer:
    """Carla again, created a second time: an email address and a chat from another browser."""
    widget_message(chat_channel, visitor="carla-laptop", text="C'est encore moi")
    customer = Identity.objects.get(kind=Identity.Kind.WIDGET, address="carla-laptop").customer
    Identity.objects.create(customer=customer, kind=Identity.Kind.EMAIL, address="carla@example.com")
    return customer


def test_it_moves_identities_conversations_and_interactions(
    sophie: Any, carla_on_the_website: Customer, carla_by_email: Customer
) -> None:
    target, source = carla_on_the_website, carla_by_email
    both_histories = sorted(timeline_ids(target) + timeline_ids(source), reverse=True)
    source_conversations = set(source.conversations.values_list("pk", flat=True))

    record = merge_customers(source=source, target=target, by=sophie)

    assert timeline_ids(target) == both_histories
    assert timeline_ids(source) == []
    assert source_conversations <= set(target.conversations.values_list("pk", flat=True))
    assert identity_addresses(target) == {
        ("widget", "carla-visitor"),
        ("widget", "carla-laptop"),
        ("email", "carla@example.com"),
    }
    assert not source.identities.exists()
    source.refresh_from_db()
    assert source.merged_into == target
    assert source.merged_at is not None
    assert list(Customer.objects.unmerged().filter(pk__in=[source.pk, target.pk])) == [target]
    assert record.source == source and record.target == target and record.merged_by == sophie


def test_it_records_exactly_the_rows_it_moved(
    sophie: Any, carla_on_the_website: Customer, carla_by_email: Customer
) -> None:
    moved_interactions = timeline_ids(carla_by_email)
    moved_conversations = list(carla_by_email.conversations.order_by("pk").values_list("pk", flat=True))
    moved_identities = list(carla_by_email.identities.order_by("pk").values_list("pk", flat=True))

    record = merge_customers(source=carla_by_email, target=carla_on_the_website, by=sophie)

    assert record.moved["rows"] == {
        "customers.Identity": {"customer": moved_identities},
        "interactions.Conversation": {"customer": moved_conversations},
        "interactions.Interaction": {"customer": sorted(moved_interactions)},
    }


def test_it_gives_back_the_exact_timelines_and_identities_on_unmerge(
    sophie: Any, carla_on_the_website: Customer, carla_by_email: Customer
) -> None:
    before = state_of(carla_on_the_website, carla_by_email)
    record = merge_customers(source=carla_by_email, target=carla_on_the_website, by=sophie)

    restored = unmerge_customers(record=record, by=sophie)

    assert restored == carla_by_email
    assert state_of(carla_on_the_website, carla_by_email) == before
    assert record.unmerged_by == sophie
    assert record.unmerged_at is not None
    assert MergeRecord.objects.get(pk=record.pk).unmerged_at == record.unmerged_at


def test_it_sends_a_message_received_after_the_merge_back_with_its_conversation(
    sophie: Any, chat_channel: Channel, carla_on_the_website: Customer, carla_by_email: Customer
) -> None:
    conversation = carla_by_email.conversations.get()
    record = merge_customers(source=carla_by_email, target=carla_on_the_website, by=sophie)
    later = widget_message(chat_channel, visitor="carla-laptop", text="Toujours là ?")
    assert later.customer == carla_on_the_website

    unmerge_customers(record=record, by=sophie)

    later.refresh_from_db()
    assert later.conversation == conversation
    assert later.customer == carla_by_email
    assert Conversation.objects.get(pk=conversation.pk).customer == carla_by_email


def test_it_fills_in_and_then_restores_the_targets_name_language_and_attributes(sophie: Any, carla: Customer) -> None:
    target = Customer.objects.create(display_name="", attributes={"plan": "gold"})
    carla.language = "fr"
    carla.attributes = {"plan": "silver", "vip": True}
    carla.save()

    record = merge_customers(source=carla, target=target, by=sophie)

    target.refresh_from_db()
    assert (target.display_name, target.language, target.attributes) == ("Carla", "fr", {"plan": "gold", "vip": True})

    unmerge_customers(record=record, by=sophie)

    target.refresh_from_db()
    assert (target.display_name, target.language, target.attributes) == ("", "", {"plan": "gold"})
    carla.refresh_from_db()
    assert (carla.display_name, carla.language, carla.attributes) == ("Carla", "fr", {"plan": "silver", "vip": True})


def test_it_keeps_edits_made_to_the_target_after_the_merge(sophie: Any, carla: Customer) -> None:
    target = Customer.objects.create(display_name="")
    record = merge_customers(source=carla, target=target, by=sophie)
    target.display_name = "Carla Rossi"
    target.save()

    unmerge_customers(record=record, by=sophie)

    target.refresh_from_db()
    assert target.display_name == "Carla Rossi"


def test_it_refuses_to_merge_a_customer_into_itself(sophie: Any, carla: Customer) -> None:
    with pytest.raises(ValidationError) as error:
        merge_customers(source=carla, target=carla, by=sophie)

    assert error.value.code == "merge_into_self"
    assert not MergeRecord.objects.exists()


def test_it_refuses_to_merge_into_or_from_a_merged_customer(sophie: Any, carla: Customer) -> None:
    duplicate = customer_named("Carla R.")
    other = customer_named("Someone else")
    merge_customers(source=duplicate, target=carla, by=sophie)

    with pytest.raises(ValidationError) as into_merged:
        merge_customers(source=other, target=duplicate, by=sophie)
    with pytest.raises(ValidationError) as from_merged:
        merge_customers(source=duplicate, target=other, by=sophie)

    assert into_merged.value.code == "already_merged"
    assert from_merged.value.code == "already_merged"
    assert MergeRecord.objects.count() == 1
    assert Customer.objects.get(pk=other.pk).merged_into is None


def test_it_lets_only_supervisors_merge(
    alice: Any, sophie: Any, carla_on_the_website: Customer, carla_by_email: Customer
) -> None:
    before = state_of(carla_on_the_website, carla_by_email)

    with pytest.raises(PermissionDenied):
        merge_customers(source=carla_by_email, target=carla_on_the_website, by=alice)

    assert state_of(carla_on_the_website, carla_by_email) == before
    assert not MergeRecord.objects.exists()


def test_it_lets_only_supervisors_unmerge(
    alice: Any, sophie: Any, carla_on_the_website: Customer, carla_by_email: Customer
) -> None:
    record = merge_customers(source=carla_by_email, target=carla_on_the_website, by=sophie)
    merged = state_of(carla_on_the_website, carla_by_email)

    with pytest.raises(PermissionDenied):
        unmerge_customers(record=record, by=alice)

    assert state_of(carla_on_the_website, carla_by_email) == merged
    assert MergeRecord.objects.get(pk=record.pk).unmerged_at is None


def test_it_refuses_to_unmerge_twice(sophie: Any, carla: Customer) -> None:
    record = merge_customers(source=customer_named("Carla R."), target=carla, by=sophie)
    unmerge_customers(record=record, by=sophie)

    with pytest.raises(ValidationError) as error:
        unmerge_customers(record=record, by=sophie)

    assert error.value.code == "already_unmerged"


def test_it_refuses_to_unmerge_when_the_target_was_merged_again(sophie: Any, carla: Customer) -> None:
    first = merge_customers(source=customer_named("Carla R."), target=carla, by=sophie)
    merge_customers(source=carla, target=customer_named("Carla Rossi"), by=sophie)

    with pytest.raises(ValidationError) as error:
        unmerge_customers(record=first, by=sophie)

    assert error.value.code == "target_merged"


def test_it_leaves_nothing_half_written_when_the_merge_fails(
    carla_on_the_website: Customer, carla_by_email: Customer
) -> None:
    # A supervisor object that was never saved passes the permission check, and then makes the very last step
    # (creating the MergeRecord) fail, after every row has already been moved.
    ghost = get_user_model()(username="ghost")
    # Issue 11: a supervisor is the profile's role (is_staff alone is not one); the unsaved profile is cached on ghost.
    AgentProfile(user=ghost, role=AgentProfile.Role.SUPERVISOR)
    carla_on_the_website.display_name = ""
    carla_on_the_website.save()
    before = state_of(carla_on_the_website, carla_by_email)

    with pytest.raises(ValueError, match="unsaved related object"):
        merge_customers(source=carla_by_email, target=carla_on_the_website, by=ghost)

    assert state_of(carla_on_the_website, carla_by_email) == before
    assert not MergeRecord.objects.exists()


def test_it_suggests_customers_sharing_an_address_or_a_name(sophie: Any, carla: Customer) -> None:
    Identity.objects.create(customer=carla, kind=Identity.Kind.EMAIL, address="carla@example.com")
    # Identities are stored normalized (customers.services.normalize_address).
    Identity.objects.create(customer=carla, kind=Identity.Kind.PHONE, address="+33612345678")
    same_email = customer_named("C. R.")
    Identity.objects.create(customer=same_email, kind=Identity.Kind.EXTERNAL, address="carla@example.com")
    same_phone = customer_named("Unknown caller")
    Identity.objects.create(customer=same_phone, kind=Identity.Kind.WHATSAPP, address="+33612345678")
    same_name = customer_named("cárla")
    merged = customer_named("Carla")
    merge_customers(source=merged, target=customer_named("Carla Rossi"), by=sophie)
    customer_named("Carlos")

    suggestions = duplicate_suggestions(carla)

    assert suggestions == [same_email, same_phone, same_name]
    assert duplicate_suggestions(carla, limit=1) == [same_email]


def test_it_suggests_nothing_for_a_customer_without_name_or_shared_address(carla: Customer) -> None:
    customer_named("Someone")
    nameless = Customer.objects.create()

    assert duplicate_suggestions(nameless) == []
    assert duplicate_suggestions(carla) == []
