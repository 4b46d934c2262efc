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

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from customers.models import Customer
from interactions import inbound_bulk
from interactions.models import Channel, Conversation
from omnidesk import compiled_queries
from routing.intents import detect_intent_of_text
from routing.models import ConversationIntent, Intent, Queue

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
def cases_locked_for_batch(
    *, customer_ids: set[int], channels: Iterable[Channel], now: datetime
) -> Iterator[BatchCases]:
    """Lock the cases of `customer_ids` the rule may pick (one statement, id order); `decide_case` uses them within.

    `channels`: the batch's (with their queues), which its cases share. The window is widened by a minute: each
    message applies the exact one with its own `now`."""
    cases = BatchCases({customer_id: [] for customer_id in customer_ids})
    if customer_ids:
        since = now - reopen_window() - timedelta(minutes=1)
        for case in _candidates(customer_ids=customer_ids, channels=channels, since=since):
            cases.by_customer[case.customer_id].append(case)
    token = _batch_cases.set(cases)
    try:
        yield cases
    finally:
        _batch_cases.reset(token)


def batch_case_ids(*, unresolved: bool = False) -> list[int]:
    """The ids of the running batch's cases (only those not resolved with `unresolved`); [] outside a batch."""
    cases = _batch_cases.get()
    if cases is None:
        return []
    return [
        case.pk
        for held in cases.by_customer.values()
        for case in held
        if not (unresolved and case.status == Conversation.Status.RESOLVED)
    ]


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


def _candidates(*, customer_ids: set[int], channels: Iterable[Channel], since: datetime) -> list[Conversation]:
    """The cases the rule may pick for these customers, locked: not resolved, or resolved since `since`.

    Compiled once per number of customers (omnidesk/compiled_queries.py): compiling this query with its intent
    subqueries was a third of what a message in a batch of one cost the worker (docs/performance-latency.md).
    Each case gets the caller's instances of its channel and queue when it is one of `channels`: joined in the
    query, every case came with copies of them (two models built and six JSON columns decoded per case)."""
    cases = compiled_queries.fetch(candidate_cases, customer_ids=sorted(customer_ids), since=since)
    with_channel_and_queue(cases, channels=channels)
    return cases


def with_channel_and_queue(cases: list[Conversation], *, channels: Iterable[Channel]) -> None:
    """Give `cases` their channel and queue, as `_locked()`'s joins did: the instances the caller holds, and the few
    others read in one statement each (a case continued from another channel, or moved to an intent's queue)."""
    known_channels = {channel.pk: channel for channel in channels}
    known_queues = {
        channel.queue_id: channel.queue
        for channel in known_channels.values()
        if channel.queue_id is not None and Channel.queue.is_cached(channel)
    }
    missing_channels = {case.channel_id for case in cases} - set(known_channels)
    if missing_channels:
        known_channels.update(Channel.objects.in_bulk(missing_channels))
    missing_queues = {case.queue_id for case in cases if case.queue_id is not None} - set(known_queues)
    if missing_queues:
        known_queues.update(Queue.objects.in_bulk(missing_queues))
    channel_field = Conversation.channel.field
    queue_field = Conversation.queue.field
    for case in cases:
        channel_field.set_cached_value(case, known_channels[case.channel_id])
        queue_field.set_cached_value(case, None if case.queue_id is None else known_queues[case.queue_id])


def candidate_cases(*, customer_ids: list[int], since: datetime) -> QuerySet[Conversation]:
    """The query of `_candidates`: the cases, locked, with their customer and assignee (the channel and queue are
    the caller's, see `with_channel_and_queue`)."""
    stored = ConversationIntent.objects.filter(conversation=OuterRef("pk"))
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("customer", "assignee")
        .filter(customer_id__in=customer_ids)
        .filter(~Q(status=Conversation.Status.RESOLVED) | Q(resolved_at__gte=since))
        # The case's stored intent rides along (see `stored_intent`): two subqueries instead of a statement each.
        .annotate(
            stored_intent_id=Subquery(stored.values("intent_id")[:1]),
            stored_intent_default=Subquery(stored.values("intent__is_default")[:1]),
        )
        .order_by("pk")
    )


def _cases_of(customer: Customer, channel: Channel, now: datetime) -> list[Conversation]:
    """The customer's candidate cases: the running batch's when it holds them, else read (and locked) now."""
    cases = _batch_cases.get()
    held = None if cases is None else cases.by_customer.get(customer.pk)
    if held is not None:
        return held
    return _candidates(customer_ids={customer.pk}, channels=[channel], since=now - reopen_window())


def stored_intent(conversation: Conversation) -> tuple[int | None, bool]:
    """(the case's intent id, whether it is the default intent); (None, False) when it has none.

    Read with the candidate cases when they came from `_candidates`, else now (a case found by threading, or opened
    by the running batch)."""
    if hasattr(conversation, "stored_intent_id"):
        return conversation.stored_intent_id, bool(getattr(conversation, "stored_intent_default", False))
    row = (
        ConversationIntent.objects.filter(conversation=conversation)
        .order_by("pk")
        .values_list("intent_id", "intent__is_default")
        .first()
    )
    return (None, False) if row is None else (row[0], bool(row[1]))


def confident_intent(text: str) -> Intent | None:
    """The message's intent when detection is sure of it; None for the default intent or an unsure guess."""
    if not text.strip():
        return None
    intent, _confidence = detect_intent_of_text(text)
    if intent is None or intent.is_default:
        return None
    return intent


def same_confident_intent(case: Conversation, text: str) -> bool | None:
    """Whether `text` is confidently about the case's intent (True) or another one (False); None when the case has
    no intent to compare with, or the message no confident one. A case with no intent, or the default one, answers
    None without running detection: whatever the text, rules 2 and 3 cannot tell it apart, and detection read every
    intent and scored the text on every message (docs/performance.md)."""
    current_id, current_is_default = stored_intent(case)
    if current_id is None or current_is_default:
        return None
    message_intent = confident_intent(text)
    if message_intent is None:
        return None
    return message_intent.pk == current_id


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
    cases = _cases_of(customer, channel, now)
    if threaded is not None:
        found = next((case for case in cases if case.pk == threaded.pk), None)
        if found is None:  # not among the customer's candidates (another customer's, or resolved long ago): look
            found = _locked().filter(pk=threaded.pk).first()
        if found is not None and found.status != Conversation.Status.RESOLVED:
            return Decision(found, THREAD)
    unresolved = [case for case in cases if case.status != Conversation.Status.RESOLVED]
    open_case = max(unresolved, key=_newest_first) if unresolved else None
    if open_case is not None:
        if explicit_threading and (
            (open_case.last_message_at or open_case.created_at) < now - continue_window()
            or inbound_bulk.has_pending_entry(conversation_id=open_case.pk, channel_kind=channel.kind)
            or open_case.interactions.filter(channel__kind=channel.kind).exists()
        ):
            return Decision(None, UNTHREADED)
        if same_confident_intent(open_case, text) is False:
            return Decision(None, NEW_INTENT)
        return Decision(open_case, OPEN_CASE)
    since = now - reopen_window()
    resolved = [
        case
        for case in cases
        if case.status == Conversation.Status.RESOLVED and case.resolved_at is not None and case.resolved_at >= since
    ]
    recent = max(resolved, key=lambda case: (case.resolved_at, case.pk)) if resolved else None
    if recent is not None and same_confident_intent(recent, text):
        return Decision(recent, REOPENED)
    return Decision(None, NO_CASE)
