"""Next best action (issue 15, item 4): an offline, explainable ranking of what the agent could do next.

Each candidate suggestion gets a base score from one feature of the conversation (its detected intent, the customer's
language, history and open cases, the last agent's note), multiplied by how often agents applied rather than dismissed
that suggestion for the same intent (a Laplace-smoothed acceptance rate, 1.0 with no feedback). The model, its
weights and a worked example are in docs/next-best-action.md; keep the two in step.

Visibility asks interactions.access only: open cases are those the agent may open, notes those they may see.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from assist import canned
from assist.models import CannedResponse, SuggestionFeedback
from customers import selectors as customer_selectors
from customers.models import Identity
from interactions import access
from interactions.models import Channel, Conversation, Interaction
from interactions.phone.callbacks import request_callback
from interactions.phone.models import Callback
from routing.intent_detection import tokenize
from routing.models import ConversationIntent, Intent

# Base scores (see docs/next-best-action.md). An open case elsewhere is the most urgent thing to know: answering twice,
# or contradicting a colleague, costs more than any wording does.
OPEN_CASE_OTHER_CHANNEL = 0.75
OPEN_CASE_SAME_CHANNEL = 0.6
CALLBACK_BASE = 0.7
CALLBACK_PER_EXTRA_CONTACT = 0.05
CALLBACK_MAX = 0.85
CALLBACK_MIN_PRIOR_CONTACTS = 2
CANNED_SHORTCUT_IS_INTENT = 0.8
CANNED_BASE = 0.5
CANNED_PER_KEYWORD = 0.1
CANNED_MAX_KEYWORDS = 3
CANNED_SAME_LANGUAGE = 0.05
SELF_SERVICE = 0.55
LAST_NOTE = 0.45
MAX_SUGGESTIONS = 6


@dataclass
class Suggestion:
    """One thing the agent could do, with its score and the reasons for it, in the agent's language."""

    key: str  # stable across conversations: what feedback is counted by
    kind: str  # canned | self_service | callback | open_case | last_note
    title: str
    action: str  # insert (text into the composer) | callback (open the callback form) | open (another conversation)
    base: float
    why: list[str]
    text: str = ""  # for insert: the text; for last_note: the note
    url: str = ""  # for open: the conversation's desk URL
    multiplier: float = 1.0
    accepted: int = 0
    dismissed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return round(self.base * self.multiplier, 4)


def acceptance_multiplier(*, accepted: int, dismissed: int) -> float:
    """2 × (accepted + 1) / (accepted + dismissed + 2): 1.0 without feedback, towards 2 when always applied, towards
    0 when always dismissed; the +1/+2 (Laplace) keep a single answer from deciding alone."""
    return 2.0 * (accepted + 1) / (accepted + dismissed + 2)


def intent_of(conversation: Conversation) -> Intent | None:
    stored = ConversationIntent.objects.select_related("intent").filter(conversation=conversation).first()
    return stored.intent if stored is not None else None


def _feedback_counts(intent: Intent | None) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"accepted": 0, "dismissed": 0})
    rows = SuggestionFeedback.objects.filter(intent=intent).values("key", "outcome").annotate(n=Count("id"))
    for row in rows:
        counts[row["key"]][row["outcome"]] = row["n"]
    return counts


def _canned_suggestions(*, user: Any, conversation: Conversation, intent: Intent) -> list[Suggestion]:
    """The canned responses that fit the intent: named after it, or containing its keywords (normalized, so
    "factures" meets "facture"), in the customer's language version when there is one."""
    language = conversation.customer.language or ""
    keywords = [(keyword, set(tokenize(keyword))) for keyword in intent.keywords or [] if tokenize(keyword)]
    values = canned.variables_for(conversation=conversation, agent=user)
    found = []
    for response in canned.language_versions(canned.usable_by(user), language):
        words = set(tokenize(f"{response.shortcut.replace('-', ' ')} {response.title} {response.body}"))
        hits = [keyword for keyword, tokens in keywords if tokens <= words]
        if response.shortcut == intent.key:
            base = CANNED_SHORTCUT_IS_INTENT
            why = [_("Written for the intent “%(intent)s”.") % {"intent": intent.name}]
        elif hits:
            base = CANNED_BASE + CANNED_PER_KEYWORD * min(len(hits), CANNED_MAX_KEYWORDS)
            why = [
                _("Matches the intent “%(intent)s” (%(keywords)s).")
                % {"intent": intent.name, "keywords": ", ".join(hits[:CANNED_MAX_KEYWORDS])}
            ]
        else:
            continue
        if response.language and language and response.language.lower() == language.lower():
            base += CANNED_SAME_LANGUAGE
            why.append(_("In the customer's language (%(language)s).") % {"language": response.language})
        found.append(
            Suggestion(
                key=f"canned:{response.shortcut}",
                kind="canned",
                title=_("Reply with “%(title)s”") % {"title": response.title},
                action="insert",
                base=base,
                why=why,
                text=canned.render(response.body, values),
                extra={"canned_id": response.pk},
            )
        )
    return found


def _prior_contacts(*, user: Any, conversation: Conversation, intent: Intent) -> int:
    """The customer's other conversations about the same intent, on any channel, that `user` may open."""
    return (
        access.conversations_visible_to(user)
        .filter(customer_id=conversation.customer_id, routing_intent__intent=intent)
        .exclude(pk=conversation.pk)
        .count()
    )


def voice_channels_for(user: Any) -> list[Channel]:
    return list(access.channels_actionable_by(user).filter(kind=Channel.Kind.VOICE, is_active=True).order_by("pk"))


def _callback_suggestion(*, user: Any, conversation: Conversation, intent: Intent) -> Suggestion | None:
    prior = _prior_contacts(user=user, conversation=conversation, intent=intent)
    if prior < CALLBACK_MIN_PRIOR_CONTACTS or not voice_channels_for(user):
        return None
    number = (
        Identity.objects.filter(customer_id=conversation.customer_id, kind=Identity.Kind.PHONE)
        .values_list("address", flat=True)
        .first()
    )
    return Suggestion(
        key="callback",
        kind="callback",
        title=_("Offer a callback"),
        action="callback",
        base=min(CALLBACK_BASE + CALLBACK_PER_EXTRA_CONTACT * (prior - CALLBACK_MIN_PRIOR_CONTACTS), CALLBACK_MAX),
        why=[
            _("The customer already contacted us %(count)d times about “%(intent)s”.")
            % {"count": prior, "intent": intent.name}
        ],
        extra={"number": number or ""},
    )


def _open_case_suggestions(*, user: Any, conversation: Conversation) -> list[Suggestion]:
    found = []
    for case in customer_selectors.open_cases(user, conversation.customer).exclude(pk=conversation.pk)[:3]:
        other_channel = case.channel.kind != conversation.channel.kind
        why = (
            _("This customer has an open case on %(channel)s (#%(id)s).")
            % {"channel": case.channel.get_kind_display(), "id": case.pk}
            if other_channel
            else _("This customer has another open case (#%(id)s).") % {"id": case.pk}
        )
        found.append(
            Suggestion(
                key="open_case",
                kind="open_case",
                title=_("Open case #%(id)s") % {"id": case.pk},
                action="open",
                base=OPEN_CASE_OTHER_CHANNEL if other_channel else OPEN_CASE_SAME_CHANNEL,
                why=[why],
                extra={"conversation_id": case.pk},
            )
        )
    return found


def _last_note_suggestion(*, user: Any, conversation: Conversation) -> Suggestion | None:
    """The latest note an agent wrote about this customer, if `user` may see that conversation's notes."""
    notes = access.searchable_interactions_for(
        user,
        Interaction.objects.filter(
            customer_id=conversation.customer_id, kind=Interaction.Kind.NOTE, author__isnull=False
        ),
    ).select_related("author", "conversation__queue")
    note = notes.order_by("-created_at", "-id").first()
    if note is None or not access.may_see_notes(user, note.conversation):
        return None
    author = note.author.first_name or note.author.get_username() if note.author else ""
    return Suggestion(
        key="last_note",
        kind="last_note",
        title=_("Read %(name)s's note") % {"name": author},
        action="open",
        base=LAST_NOTE,
        why=[_("The last note an agent left about this customer (case #%(id)s).") % {"id": note.conversation_id}],
        text=note.text[:500],
        extra={"conversation_id": note.conversation_id, "interaction_id": note.pk},
    )


def _self_service_suggestion(*, conversation: Conversation, intent: Intent) -> Suggestion | None:
    if not intent.self_service_url:
        return None
    return Suggestion(
        key="self_service",
        kind="self_service",
        title=_("Share the self-service link"),
        action="insert",
        base=SELF_SERVICE,
        why=[_("“%(intent)s” can be solved online: %(url)s") % {"intent": intent.name, "url": intent.self_service_url}],
        text=intent.self_service_url,
    )


def suggestions_for(*, user: Any, conversation: Conversation, limit: int = MAX_SUGGESTIONS) -> list[Suggestion]:
    """The ranked suggestions for `user` on `conversation`, best first (ties by key, so the order is stable). What
    `user` dismissed on this conversation is left out."""
    if not access.may_act_on(user, conversation):
        return []
    intent = intent_of(conversation)
    candidates: list[Suggestion] = []
    if intent is not None and not intent.is_default:
        candidates += _canned_suggestions(user=user, conversation=conversation, intent=intent)
        for optional in (
            _self_service_suggestion(conversation=conversation, intent=intent),
            _callback_suggestion(user=user, conversation=conversation, intent=intent),
        ):
            if optional is not None:
                candidates.append(optional)
    candidates += _open_case_suggestions(user=user, conversation=conversation)
    note = _last_note_suggestion(user=user, conversation=conversation)
    if note is not None:
        candidates.append(note)
    dismissed_here = set(
        SuggestionFeedback.objects.filter(
            conversation=conversation, user=user, outcome=SuggestionFeedback.Outcome.DISMISSED
        ).values_list("key", flat=True)
    )
    counts = _feedback_counts(intent)
    ranked = []
    for suggestion in candidates:
        if suggestion.key in dismissed_here:
            continue
        tally = counts.get(suggestion.key, {"accepted": 0, "dismissed": 0})
        suggestion.accepted, suggestion.dismissed = tally["accepted"], tally["dismissed"]
        suggestion.multiplier = acceptance_multiplier(accepted=suggestion.accepted, dismissed=suggestion.dismissed)
        if suggestion.accepted or suggestion.dismissed:
            suggestion.why.append(
                _("Agents applied it %(accepted)d times and dismissed it %(dismissed)d times for this intent.")
                % {"accepted": suggestion.accepted, "dismissed": suggestion.dismissed}
            )
        ranked.append(suggestion)
    ranked.sort(key=lambda s: (-s.score, s.key, s.extra.get("conversation_id", 0)))
    return ranked[:limit]


def record_feedback(*, user: Any, conversation: Conversation, key: str, outcome: str) -> SuggestionFeedback:
    """`user` applied or dismissed the suggestion `key` on `conversation`; a second answer replaces the first."""
    if outcome not in SuggestionFeedback.Outcome.values:
        raise ValidationError(_("Unknown answer to a suggestion."), code="bad_outcome")
    if not key or len(key) > 120 or not _is_known_key(key):
        raise ValidationError(_("Unknown suggestion."), code="bad_key")
    feedback, _created = SuggestionFeedback.objects.update_or_create(
        conversation=conversation,
        user=user,
        key=key,
        defaults={"outcome": outcome, "intent": intent_of(conversation)},
    )
    return feedback


def _is_known_key(key: str) -> bool:
    if key in {"self_service", "callback", "open_case", "last_note"}:
        return True
    return key.startswith("canned:") and CannedResponse.objects.filter(shortcut=key.removeprefix("canned:")).exists()


def offer_callback(*, user: Any, conversation: Conversation, channel: Channel, number: str, note: str = "") -> Callback:
    """The agent took the "offer a callback" suggestion: a callback is requested for the conversation's customer
    (through one of the agent's phone lines) and the suggestion is counted as applied."""
    if channel.pk not in {c.pk for c in voice_channels_for(user)}:
        raise ValidationError(_("Pick one of the offered phone lines."), code="bad_channel")
    with transaction.atomic():
        callback = request_callback(
            channel=channel,
            number=number,
            name=conversation.customer.display_name or "",
            note=note or _("Offered from conversation #%(id)s.") % {"id": conversation.pk},
            by=user,
        )
        record_feedback(
            user=user, conversation=conversation, key="callback", outcome=SuggestionFeedback.Outcome.ACCEPTED
        )
    return callback
