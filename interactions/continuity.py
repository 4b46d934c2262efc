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

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
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


# --- an ingest batch's cases, locked up front ------------------------------------------------------------------------
# A batch (interactions/inbound_batch.py) locks, in one statement, every case the rule could pick for its customers:
# not resolved, or resolved within the reopen window. `decide_case` then picks among those without a statement. The
# instances are the ones the rest of ingest updates (status, last message), and a case the batch opens is added, so
# the second message of a customer in the batch sees what the first one did.


@dataclass
class BatchCases:
    by_customer: dict[int, list[Conversation]] = field(default_factory=dict)


_batch_cases: ContextVar[BatchCases | None] = ContextVar("batch_cases", default=None)


@contextmanager
def cases_locked_for_batch(*, customer_ids: set[int], now: datetime) -> Iterator[BatchCases]:
    """Lock the cases of `customer_ids` the rule may pick (one statement, id order); `decide_case` uses them within.

    The window is widened by a minute: each message applies the exact one with its own `now`."""
    cases = BatchCases({customer_id: [] for customer_id in customer_ids})
    if customer_ids:
        for case in _candidates(customer_ids=customer_ids, since=now - reopen_window() - timedelta(minutes=1)):
            cases.by_customer[case.customer_id].append(case)
    token = _batch_cases.set(cases)
    try:
        yield cases
    finally:
        _batch_cases.reset(token)


def note_new_case(conversation: Conversation) -> None:
    """A case opened within the batch: the customer's next message in it may continue it."""
    cases = _batch_cases.get()
    if cases is not None and conversation.customer_id in cases.by_customer:
        cases.by_customer[conversation.customer_id].append(conversation)


def forget_batch_cases() -> None:
    """A message rolled back to its savepoint may have changed cases in memory: the rest of the batch queries."""
    cases = _batch_cases.get()
    if cases is not None:
        cases.by_customer.clear()


def _newest_first(case: Conversation) -> tuple[bool, datetime, int]:
    # As ORDER BY last_message_at DESC, id DESC on PostgreSQL, where NULLs come first in a descending order.
    return (case.last_message_at is None, case.last_message_at or datetime.min.replace(tzinfo=UTC), case.pk)


def _candidates(*, customer_ids: set[int], since: datetime) -> QuerySet[Conversation]:
    """The cases the rule may pick for these customers, locked: not resolved, or resolved since `since`."""
    return (
        _locked()
        .filter(customer_id__in=customer_ids)
        .filter(~Q(status=Conversation.Status.RESOLVED) | Q(resolved_at__gte=since))
        .order_by("pk")
    )


def _cases_of(customer: Customer, now: datetime) -> list[Conversation]:
    """The customer's candidate cases: the running batch's when it holds them, else read (and locked) now."""
    cases = _batch_cases.get()
    held = None if cases is None else cases.by_customer.get(customer.pk)
    if held is not None:
        return held
    return list(_candidates(customer_ids={customer.pk}, since=now - reopen_window()))


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
    cases = _cases_of(customer, now)
    if threaded is not None:
        found = next((case for case in cases if case.pk == threaded.pk), None)
        if found is None:  # not among the customer's candidates (another customer's, or resolved long ago): look
            found = _locked().filter(pk=threaded.pk).first()
        if found is not None and found.status != Conversation.Status.RESOLVED:
            return Decision(found, THREAD)
    unresolved = [case for case in cases if case.status != Conversation.Status.RESOLVED]
    open_case = max(unresolved, key=_newest_first) if unresolved else None
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
    since = now - reopen_window()
    resolved = [
        case
        for case in cases
        if case.status == Conversation.Status.RESOLVED and case.resolved_at is not None and case.resolved_at >= since
    ]
    recent = max(resolved, key=lambda case: (case.resolved_at, case.pk)) if resolved else None
    if recent is not None:
        message_intent = message_intent if detected else confident_intent(text)
        current = case_intent(recent)
        if message_intent is not None and current is not None and current.pk == message_intent.pk:
            return Decision(recent, REOPENED)
    return Decision(None, NO_CASE)
