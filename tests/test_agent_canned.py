"""Canned responses with variables, scopes and language versions (issue 15, item 2)."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from assist import canned
from assist.models import CannedResponse
from customers.models import Customer
from interactions.models import Channel, Conversation
from routing.models import Queue
from tests.clients import logged_in
from tests.factories import widget_message


def french_conversation(chat_channel: Channel) -> Conversation:
    conversation = widget_message(chat_channel, text="Bonjour").conversation
    Customer.objects.filter(pk=conversation.customer_id).update(
        display_name="Camille Durand", language="fr", attributes={"plan": "Premium"}
    )
    return Conversation.objects.select_related("customer").get(pk=conversation.pk)


def test_it_renders_a_canned_response_for_a_french_customer_in_french_with_a_fallback(
    alice: Any, support_queue: Queue, chat_channel: Channel
) -> None:
    conversation = french_conversation(chat_channel)
    body = "{{customer.first_name|there}}, {{agent.name}} #{{conversation.id}} {{customer.plan}} {{customer.city|?}}"
    CannedResponse.objects.create(shortcut="hello", title="Hello", body="Hello " + body, scope="global")
    CannedResponse.objects.create(
        shortcut="hello",
        title="Bonjour",
        body="Bonjour {{customer.first_name|à vous}}, ici {{agent.first_name}} (dossier {{conversation.id}}, "
        "offre {{customer.plan|standard}}, ville {{customer.city|inconnue}}).",
        language="fr",
        scope="global",
    )
    response = logged_in("alice").get(f"/desk/conversations/{conversation.pk}/canned/", {"q": "hel"})
    assert response.status_code == 200
    [result] = response.json()["results"]
    assert result["language"] == "fr"
    assert result["text"] == (f"Bonjour Camille, ici Alice (dossier {conversation.pk}, offre Premium, ville inconnue).")


def test_it_falls_back_to_the_any_language_version_and_to_the_fallback_for_an_unnamed_customer(
    alice: Any, chat_channel: Channel
) -> None:
    conversation = widget_message(chat_channel).conversation
    Customer.objects.filter(pk=conversation.customer_id).update(display_name="", language="de")
    conversation.refresh_from_db()
    CannedResponse.objects.create(shortcut="hi", title="Hi", body="Hi {{customer.first_name|there}}!", scope="global")
    CannedResponse.objects.create(shortcut="hi", title="Salut", body="Salut !", language="fr", scope="global")
    [result] = canned.suggestions(user=alice, conversation=conversation)
    assert result["text"] == "Hi there!"


def test_it_never_runs_the_template_engine_on_user_text(alice: Any, chat_channel: Channel) -> None:
    conversation = widget_message(chat_channel).conversation
    hostile = "{% load static %}{{ settings.SECRET_KEY }}{{customer.__class__}}{{ agent.password }}{% debug %}"
    # Tags and other namespaces stay as written; an unknown attribute of a known one is empty (no lookup at all).
    assert canned.render(hostile, canned.variables_for(conversation=conversation, agent=alice)) == (
        "{% load static %}{{ settings.SECRET_KEY }}{% debug %}"
    )


def test_it_offers_personal_queue_and_global_responses_to_the_right_agents(
    alice: Any, oscar: Any, sophie: Any, support_queue: Queue, billing_queue: Queue, chat_channel: Channel
) -> None:
    conversation = widget_message(chat_channel).conversation
    CannedResponse.objects.create(shortcut="mine", title="Mine", body="a", owner=alice)
    CannedResponse.objects.create(shortcut="support", title="Support", body="b", scope="queue", queue=support_queue)
    CannedResponse.objects.create(shortcut="billing", title="Billing", body="c", scope="queue", queue=billing_queue)
    CannedResponse.objects.create(shortcut="all", title="All", body="d", scope="global")
    shortcuts = {r["shortcut"] for r in canned.suggestions(user=alice, conversation=conversation)}
    assert shortcuts == {"mine", "support", "all"}
    shortcuts = {r["shortcut"] for r in canned.suggestions(user=sophie, conversation=conversation)}
    assert shortcuts == {"support", "billing", "all"}
    # Another team's agent may not act on the conversation, so gets no canned responses for it.
    assert logged_in("oscar").get(f"/desk/conversations/{conversation.pk}/canned/").status_code == 403


def test_it_lets_agents_manage_personal_responses_and_only_supervisors_shared_ones(
    alice: Any, sophie: Any, support_queue: Queue
) -> None:
    client = logged_in("alice")
    assert client.get("/desk/canned/").status_code == 200
    response = client.post("/desk/canned/", {"shortcut": "thanks", "title": "Thanks", "body": "Merci !"})
    assert response.status_code == 302
    assert CannedResponse.objects.get(shortcut="thanks").owner == alice
    refused = client.post("/desk/canned/", {"shortcut": "all", "title": "All", "body": "x", "scope": "global"})
    assert refused.status_code == 403
    assert not CannedResponse.objects.filter(scope="global").exists()
    shared = logged_in("sophie").post(
        "/desk/canned/",
        {"shortcut": "team", "title": "Team", "body": "y", "scope": "queue", "queue": support_queue.pk},
    )
    assert shared.status_code == 302
    team = CannedResponse.objects.get(shortcut="team")
    assert client.post(f"/desk/canned/{team.pk}/delete/").status_code == 403
    assert CannedResponse.objects.filter(pk=team.pk).exists()


def test_it_exports_formula_safe_csv_and_imports_it_back(alice: Any) -> None:
    CannedResponse.objects.create(shortcut="sum", title="=SUM(A1:A2)", body="@cmd|' /C calc'!A0", owner=alice)
    client = logged_in("alice")
    exported = client.get("/desk/canned/export.csv").content.decode()
    assert "'=SUM(A1:A2)" in exported and "'@cmd" in exported
    CannedResponse.objects.all().delete()
    upload = SimpleUploadedFile("canned.csv", exported.encode(), content_type="text/csv")
    response = client.post("/desk/canned/import/", {"file": upload})
    assert response.status_code == 302
    restored = CannedResponse.objects.get()
    assert (restored.title, restored.body, restored.owner) == ("=SUM(A1:A2)", "@cmd|' /C calc'!A0", alice)


def test_it_refuses_an_imported_line_that_would_run_as_a_formula(alice: Any) -> None:
    content = "shortcut,title,language,scope,queue,body\nok,Fine,,personal,,Hello\nbad,=HYPERLINK(1),,personal,,x\n"
    upload = SimpleUploadedFile("canned.csv", content.encode(), content_type="text/csv")
    response = logged_in("alice").post("/desk/canned/import/", {"file": upload})
    assert response.status_code == 422
    assert "Line 3: a cell starts like a spreadsheet formula." in response.content.decode()
    assert list(CannedResponse.objects.values_list("shortcut", flat=True)) == ["ok"]
