"""The continuity rule: does an inbound message continue one of the customer's cases, or open a new one?

One rule for every channel (chat, email, messaging, calls), so a customer who chats, then emails, then calls about
the same bill has one case and the third agent does not start from zero. In order:

1. **Explicit threading wins.** When the channel's own threading found a case that is not resolved (an email's reply
   token, In-Reply-To or References), the message continues it. A thread to a resolved case is decided by the rules
   below like any unthreaded message (so it reopens only under rule 3).
2. **The customer's open case, on any channel.** Otherwise the customer's most recently active case that is not
   resolved continues, whatever channel it was opened on — unless the message is confidently about another intent
   than the case's (both detected, neither the default intent, and different), which opens a new case. On a channel
   whose threading is explicit (email), a message without a marker is a new request when the case already has
   entries of that kind (the customer's mail client would have threaded a follow-up, as before this rule), and
   continues a case from another channel only when it was active within `OMNIDESK_CASE_CONTINUE_HOURS`: a fresh
   email weeks after a chat that nobody closed is a new request, an email an hour after the chat is not.
3. **A recently resolved case about the same thing.** A case resolved less than `OMNIDESK_CASE_REOPEN_HOURS` ago whose
   intent the message confidently shares reopens ("it is still broken"); the default intent never matches.
4. Otherwise a new case.

Callers hold the customer's row lock, so two messages of one customer never decide at once. The chosen case is
returned locked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from customers.models import Customer
from interactions.models import Channel, Conversation
from routing.intents import detect_intent_of_text
from routing.models import ConversationIntent, Intent

# Why a message went where it went; stored in the interaction's meta as `continuity`.
THREAD = "thread"
OPEN_CASE = "open_case"
REOPENED = "reopened"
NEW_INTENT = "new_intent"
UNTHREADED = "unthreaded"
NO_CASE = "no_case"


@dataclass(frozen=True)
class Decision:
    conversation: Conversation | None  # None: open a new case
    reason: str

    @property
    def reopens(self) -> bool:
        return self.conversation is not None and self.conversation.status == Conversation.Status.RESOLVED


def reopen_window() -> timedelta:
    return timedelta(hours=getattr(settings, "OMNIDESK_CASE_REOPEN_HOURS", 72))


def continue_window() -> timedelta:
    return timedelta(hours=getattr(settings, "OMNIDESK_CASE_CONTINUE_HOURS", 72))


def _locked() -> QuerySet[Conversation]:
    # The queue: SLA reads it per message; the channel: routing follows the case across channel kinds.
    return Conversation.objects.select_for_update(of=("self",)).select_related(
        "customer", "channel", "assignee", "queue"
    )


def case_intent(conversation: Conversation) -> Intent | None:
    stored = ConversationIntent.objects.filter(conversation=conversation).select_related("intent").first()
    return stored.intent if stored else None


def confident_intent(text: str) -> Intent | None:
    """The message's intent when detection is sure of it; None for the default intent or an unsure guess."""
    if not text.strip():
        return None
    intent, _confidence = detect_intent_of_text(text)
    if intent is None or intent.is_default:
        return None
    return intent


def about_something_else(conversation: Conversation, message_intent: Intent | None) -> bool:
    if message_intent is None:
        return False
    current = case_intent(conversation)
    return current is not None and not current.is_default and current.pk != message_intent.pk


def decide_case(
    *,
    customer: Customer,
    channel: Channel,
    text: str,
    threaded: Conversation | None = None,
    explicit_threading: bool = False,
    now: datetime | None = None,
) -> Decision:
    """Which case the inbound message on `channel` continues (locked), or None for a new one, and why.

    `threaded` is the case the channel's own threading found. `explicit_threading` marks a channel whose messages
    say themselves what they answer (email): without a marker, only a recently active case continues.
    """
    now = now or timezone.now()
    if threaded is not None:
        found = _locked().filter(pk=threaded.pk).first()
        if found is not None and found.status != Conversation.Status.RESOLVED:
            return Decision(found, THREAD)
    open_case = (
        _locked()
        .filter(customer=customer)
        .exclude(status=Conversation.Status.RESOLVED)
        .order_by("-last_message_at", "-id")
        .first()
    )
    message_intent: Intent | None = None
    detected = False
    if open_case is not None:
        if explicit_threading and (
            (open_case.last_message_at or open_case.created_at) < now - continue_window()
            or open_case.interactions.filter(channel__kind=channel.kind).exists()
        ):
            return Decision(None, UNTHREADED)
        message_intent, detected = confident_intent(text), True
        if not about_something_else(open_case, message_intent):
            return Decision(open_case, OPEN_CASE)
        return Decision(None, NEW_INTENT)
    recent = (
        _locked()
        .filter(customer=customer, status=Conversation.Status.RESOLVED, resolved_at__gte=now - reopen_window())
        .order_by("-resolved_at", "-id")
        .first()
    )
    if recent is not None:
        message_intent = message_intent if detected else confident_intent(text)
        current = case_intent(recent)
        if message_intent is not None and current is not None and current.pk == message_intent.pk:
            return Decision(recent, REOPENED)
    return Decision(None, NO_CASE)
