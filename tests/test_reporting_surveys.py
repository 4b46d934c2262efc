"""Surveys: a signed one-click email link (forged and expired refused), an SMS digit reply, widget JSON answers; one
answer per survey; results in the timeline, the 360° view and the reporting events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from interactions.models import Channel, Conversation, Interaction
from interactions.services import resolve_conversation
from reporting import surveys
from reporting.models import EventKind, QueueReportingSettings, ReportingEvent, Survey
from routing.models import Queue
from tests.messaging_support import ingest, make_channel, twilio_sms


@pytest.fixture
def surveyed(support_queue: Queue) -> QueueReportingSettings:
    return QueueReportingSettings.objects.create(queue=support_queue, surveys_enabled=True, survey_nps=True)


def resolved_survey(conversation: Conversation, agent: Any) -> Survey:
    resolve_conversation(conversation=conversation, by=agent)
    return Survey.objects.get(conversation=conversation)


def link_of(survey: Survey) -> str:
    text = Interaction.objects.get(conversation=survey.conversation, meta__survey_id=survey.pk).text
    return "/survey/" + text.split("/survey/")[1].split()[0]


def test_it_answers_by_the_signed_email_link_once_and_refuses_a_second_answer(
    surveyed: Any, alice: Any, email_channel: Channel, arrive: Any
) -> None:
    survey = resolved_survey(arrive(email_channel), alice)
    url = link_of(survey)
    assert Client().get(url + "?score=5").status_code == 200
    answered = Client().post(url, {"score": "5", "nps": "9", "comment": "Parfait"})
    assert answered.status_code == 200
    survey.refresh_from_db()
    assert (survey.csat, survey.nps, survey.comment) == (5, 9, "Parfait")
    second = Client().post(url, {"score": "1", "comment": "changed my mind"})
    assert second.status_code == 409
    survey.refresh_from_db()
    assert survey.csat == 5 and ReportingEvent.objects.filter(kind=EventKind.SURVEY_ANSWERED).count() == 1
    timeline = Interaction.objects.get(conversation=survey.conversation, meta__survey_result__csat=5)
    assert "Parfait" in timeline.text


def test_it_refuses_a_forged_or_an_expired_link(
    surveyed: Any, alice: Any, email_channel: Channel, arrive: Any, settings: Any
) -> None:
    survey = resolved_survey(arrive(email_channel), alice)
    url = link_of(survey)
    forged = url[:-3] + ("A" if url[-3] != "A" else "B") + url[-2:]
    assert Client().post(forged, {"score": "5"}).status_code == 403
    other = Survey.objects.create(
        conversation=survey.conversation, customer=survey.customer, channel=survey.channel, sent_at=survey.sent_at
    )
    stale = surveys.answer_path(other)
    # The link ages past its limit: the limit is lowered below its age, the clock is not faked.
    settings.OMNIDESK_SURVEY_MAX_AGE_SECONDS = -1
    assert Client().post(stale, {"score": "5"}).status_code == 403
    other.refresh_from_db()
    assert other.answered_at is None


def test_it_answers_from_an_sms_digit_instead_of_opening_a_case(
    surveyed: Any, alice: Any, support_queue: Queue
) -> None:
    sms = make_channel(Channel.Kind.SMS, support_queue, provider="twilio")
    (first,) = ingest(sms, "twilio", [("SM1", twilio_sms("SM1", body="Mon colis est perdu"))])
    survey = resolved_survey(first.conversation, alice)
    assert "Reply with one digit" in Interaction.objects.get(meta__survey_id=survey.pk, direction="out").text
    (reply,) = ingest(sms, "twilio", [("SM2", twilio_sms("SM2", body="4 merci bien"))])
    survey.refresh_from_db()
    assert (survey.csat, survey.comment) == (4, "merci bien")
    assert reply.conversation_id == first.conversation_id
    assert Conversation.objects.filter(customer=first.customer).count() == 1  # no new case
    (later,) = ingest(sms, "twilio", [("SM3", twilio_sms("SM3", body="5"))])
    assert later.conversation_id != first.conversation_id  # answered already: a digit is just a message now


def test_it_answers_from_the_widget_with_json_and_cors_for_the_channels_origin(
    surveyed: Any, alice: Any, chat_channel: Channel, arrive: Any
) -> None:
    survey = resolved_survey(arrive(chat_channel), alice)
    message = Interaction.objects.get(meta__survey_id=survey.pk, direction="out")
    url = message.meta["survey"]["url"]
    origin = {"Origin": "http://shop.example"}
    preflight = Client().options(url, headers=origin)
    assert preflight["Access-Control-Allow-Origin"] == "http://shop.example"
    answer = Client().post(
        url, json.dumps({"score": 2, "comment": "Lent"}), content_type="application/json", headers=origin
    )
    assert answer.status_code == 200 and answer["Access-Control-Allow-Origin"] == "http://shop.example"
    again = Client().post(url, json.dumps({"score": 5}), content_type="application/json", headers=origin)
    assert again.status_code == 409 and again.json()["status"] == "refused"
    bad = Survey.objects.create(
        conversation=survey.conversation, customer=survey.customer, channel=survey.channel, sent_at=survey.sent_at
    )
    refused = Client().post(
        surveys.answer_path(bad), json.dumps({"score": 9}), content_type="application/json", headers=origin
    )
    assert refused.status_code == 400


def test_it_shows_survey_results_on_the_customers_360_view(
    surveyed: Any, alice: Any, chat_channel: Channel, arrive: Any
) -> None:
    survey = resolved_survey(arrive(chat_channel), alice)
    surveys.answer_survey(survey=survey, csat=4, comment="Rapide")
    client = Client()
    client.force_login(alice)
    page = client.get(f"/customers/{survey.customer_id}/").content.decode()
    assert "Survey answered: CSAT 4/5" in page  # the timeline
    surveys_card = page.split('id="surveys-heading"')[1].split("</section>")[0]
    assert "CSAT 4/5" in surveys_card and "Rapide" in surveys_card  # the 360° include
