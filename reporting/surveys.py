"""CSAT (1–5), optional NPS (0–10) and CES (1–7) after a resolution, on the conversation's own channel.

- email: a signed link (django.core.signing, `max_age`); a forged or expired token is refused;
- SMS / WhatsApp / Telegram / Messenger / Instagram: the customer replies with a digit; inbound processing asks
  `answer_from_reply` first, so that digit answers the pending survey instead of opening a new case;
- widget chat: a message whose `meta["survey"]` carries the answer URL, the choices and the question; the widget
  renders buttons and POSTs {"score": n, "comment": "..."} as JSON to the URL.
One answer per survey: the first wins, a second is refused (`SurveyAlreadyAnswered`).
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from interactions import access, events, outbound, visitors
from interactions.models import Channel, Conversation, Interaction
from omnidesk import realtime
from reporting.events import queue_settings, record
from reporting.models import EventKind, Survey

SALT = "reporting.survey"
DIGIT_KINDS = {"sms", "whatsapp", "telegram", "messenger", "instagram"}
SURVEY_KINDS = DIGIT_KINDS | {"email", "chat"}
RANGES = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}
MAX_COMMENT = 2000
DIGIT_REPLY = re.compile(r"^\s*([1-5])\s*[.!)]?\s*(.*)$", re.DOTALL)


class SurveyError(ValueError):
    pass


class SurveyAlreadyAnswered(SurveyError):
    pass


def link_max_age() -> int:
    return int(getattr(settings, "OMNIDESK_SURVEY_MAX_AGE_SECONDS", 14 * 86400))


def token_for(survey: Survey) -> str:
    return signing.dumps({"survey": survey.pk}, salt=SALT)


def answer_path(survey: Survey) -> str:
    return reverse("reporting:survey_answer", args=[token_for(survey)])


def survey_from_token(token: str) -> Survey:
    """The survey a link names; BadSignature / SignatureExpired (a BadSignature) when forged or too old."""
    data = signing.loads(token, salt=SALT, max_age=link_max_age())
    return Survey.objects.select_related("conversation", "channel").get(pk=data["survey"])


def question_text() -> str:
    return _("How satisfied are you with our answer? 1 (not at all) to 5 (very).")


def send_after_resolution(*, conversation: Conversation) -> Survey | None:
    """Send the survey if this queue and channel ask for one and the customer's cool-down has passed."""
    channel = conversation.channel
    options = queue_settings(conversation.queue_id)
    if not options.surveys_enabled or channel.kind not in SURVEY_KINDS or channel.config.get("surveys") is False:
        return None
    now = timezone.now()
    cooldown = now - timedelta(days=options.survey_cooldown_days)
    if Survey.objects.filter(customer_id=conversation.customer_id, sent_at__gt=cooldown).exists():
        return None
    survey = Survey.objects.create(
        conversation=conversation,
        customer_id=conversation.customer_id,
        channel=channel,
        agent_id=conversation.assignee_id,
        ask_nps=options.survey_nps,
        ask_ces=options.survey_ces,
        sent_at=now,
    )
    _send(survey)
    record(kind=EventKind.SURVEY_SENT, conversation=conversation, at=now)
    return survey


def _send(survey: Survey) -> Interaction:
    channel = survey.channel
    url = getattr(settings, "OMNIDESK_PUBLIC_URL", "").rstrip("/") + answer_path(survey)
    meta: dict[str, Any] = {"survey_id": survey.pk}
    if channel.kind == "email":
        text = _("%(question)s\nAnswer in one click: %(url)s") % {"question": question_text(), "url": url}
    elif channel.kind == "chat":
        text = question_text()
        meta["survey"] = {"url": url, "choices": [1, 2, 3, 4, 5], "question": text}
    else:
        text = _("%(question)s Reply with one digit, 1 to 5, and a comment if you wish.") % {
            "question": question_text()
        }
    sender = outbound.sender_for(channel)
    interaction = Interaction.objects.create(
        conversation=survey.conversation,
        customer_id=survey.customer_id,
        channel=channel,
        kind=Interaction.Kind.MESSAGE,
        direction=Interaction.Direction.OUTBOUND,
        text=text,
        meta=meta,
        status=Interaction.Status.QUEUED if sender else Interaction.Status.SENT,
        status_at=timezone.now(),
        idempotency_key=uuid.uuid4().hex if sender else None,
    )
    announce(interaction)
    if sender:
        outbound.enqueue_delivery(interaction=interaction)
    return interaction


def announce(interaction: Interaction) -> None:
    """The desk and (chat) the customer's widgets learn of the survey message, as for any reply."""
    conversation = interaction.conversation
    desk = {
        "conversation_id": conversation.pk,
        "message": events.message_data(interaction),
        "conversation": events.conversation_summary(conversation, preview=interaction.text),
    }
    announcements = [realtime.Announcement("message.created", desk, access.audience_for_conversation(conversation))]
    announcements += visitors.visitor_announcements(interaction=interaction)
    realtime.publish_many_on_commit(announcements)


def _validate(name: str, value: Any) -> int | None:
    if value in (None, ""):
        return None
    low, high = RANGES[name]
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SurveyError(name) from None
    if not low <= number <= high or str(number) != str(value).strip():
        raise SurveyError(name)
    return number


def answer_survey(
    *, survey: Survey, csat: Any, nps: Any = None, ces: Any = None, comment: str = "", via: str = "link"
) -> Survey:
    """Record the answer once; a second answer raises SurveyAlreadyAnswered and changes nothing."""
    scores = {"csat": _validate("csat", csat), "nps": _validate("nps", nps), "ces": _validate("ces", ces)}
    if scores["csat"] is None:
        raise SurveyError("csat")
    with transaction.atomic():
        survey = Survey.objects.select_for_update().select_related("conversation__channel").get(pk=survey.pk)
        if survey.answered_at is not None:
            raise SurveyAlreadyAnswered(str(survey.pk))
        survey.answered_at = timezone.now()
        survey.csat, survey.nps, survey.ces = scores["csat"], scores["nps"], scores["ces"]
        survey.comment = (comment or "").strip()[:MAX_COMMENT]
        survey.save(update_fields=["answered_at", "csat", "nps", "ces", "comment"])
        conversation = survey.conversation
        record(
            kind=EventKind.SURVEY_ANSWERED,
            conversation=conversation,
            agent_id=survey.agent_id,
            at=survey.answered_at,
            score=survey.csat,
            meta={**scores, "via": via},
        )
        if via != "reply":
            Interaction.objects.create(
                conversation=conversation,
                customer_id=survey.customer_id,
                channel=survey.channel,
                kind=Interaction.Kind.SYSTEM,
                direction=Interaction.Direction.INBOUND,
                text=result_text(survey),
                meta={"survey_id": survey.pk, "survey_result": scores},
            )
    return survey


def result_text(survey: Survey) -> str:
    text = _("Survey answered: CSAT %(csat)s/5") % {"csat": survey.csat}
    if survey.comment:
        text += " — " + survey.comment
    return text


def pending_survey_for(*, customer_id: int, channel: Channel) -> Survey | None:
    since = timezone.now() - timedelta(seconds=link_max_age())
    return (
        Survey.objects.filter(customer_id=customer_id, channel=channel, answered_at__isnull=True, sent_at__gt=since)
        .order_by("-sent_at")
        .first()
    )


def answer_from_reply(
    *, customer: Any, channel: Channel, external_id: str, text: str, meta: dict[str, Any] | None = None
) -> Interaction | None:
    """A digit reply (“4”, “5 great service”) to a pending survey on this channel: answer it, keep the message on the
    survey's conversation and return it. Anything else returns None, and inbound processing goes on as usual."""
    if channel.kind not in DIGIT_KINDS:
        return None
    match = DIGIT_REPLY.match(text or "")
    if match is None:
        return None
    survey = pending_survey_for(customer_id=customer.pk, channel=channel)
    if survey is None:
        return None
    interaction = Interaction.objects.create(
        conversation=survey.conversation,
        customer=customer,
        channel=channel,
        direction=Interaction.Direction.INBOUND,
        external_id=external_id,
        text=text,
        meta={**(meta or {}), "survey_id": survey.pk},
    )
    answer_survey(survey=survey, csat=match.group(1), comment=match.group(2), via="reply")
    return interaction
