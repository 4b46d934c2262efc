"""Intent detection wired into routing, and agents' corrections."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from interactions.models import Conversation, Interaction
from routing import intent_detection, new_items
from routing.models import ConversationIntent, Intent, IntentCorrection


def detect_intent_of_text(text: str, *, intents: list[Intent] | None = None) -> tuple[Intent | None, float]:
    """The referential's intent for `text`, or the default intent when detection is unsure or unavailable.
    `intents`: the referential, when the caller has read it."""
    if intents is None:
        intents = list(Intent.objects.all())
    default = next((intent for intent in intents if intent.is_default), None)
    candidates = [intent for intent in intents if not intent.is_default]
    if not text.strip() or not candidates:
        return default, 0.0
    specs = [
        intent_detection.IntentSpec(key=intent.key, keywords=list(intent.keywords), examples=list(intent.examples))
        for intent in candidates
    ]
    threshold = getattr(settings, "OMNIDESK_INTENT_THRESHOLD", 0.5)
    detection = intent_detection.detect_intent(text, specs, threshold=threshold)
    by_key = {intent.key: intent for intent in candidates}
    if detection.key is None or detection.key not in by_key:
        return default, float(detection.confidence)
    return by_key[detection.key], float(detection.confidence)


def detect_for_conversation(*, conversation: Conversation) -> ConversationIntent | None:
    """Detect and store the intent of a new conversation from its first inbound text."""
    intents = new_items.all_intents()  # once per ingest batch of new cases
    first = None
    # Without an intent to detect (none, or only the default), the text decides nothing: it is not read (one
    # statement per new case where no referential is set up).
    if any(not intent.is_default for intent in intents):
        first = (
            Interaction.objects.filter(conversation=conversation, direction=Interaction.Direction.INBOUND)
            .order_by("created_at", "id")
            .values_list("text", flat=True)
            .first()
        )
    intent, confidence = detect_intent_of_text(first or "", intents=intents)
    if intent is None:
        return None
    stored, _created = ConversationIntent.objects.update_or_create(
        conversation=conversation,
        defaults={"intent": intent, "detected_intent": intent, "confidence": confidence},
    )
    # The case's stored intent as interactions.continuity.stored_intent reads it (its only row now): its first
    # message's reporting event and continuity need not read it again.
    new_items.note_stored_intent(conversation, intent)
    return stored


def correct_intent(*, conversation: Conversation, intent: Intent, by: Any) -> ConversationIntent:
    """An agent says what the conversation is really about; the correction is kept with the text it was about."""
    with transaction.atomic():
        current = ConversationIntent.objects.select_for_update().filter(conversation=conversation).first()
        previous = current.intent if current else None
        first = (
            Interaction.objects.filter(conversation=conversation, direction=Interaction.Direction.INBOUND)
            .order_by("created_at", "id")
            .values_list("text", flat=True)
            .first()
        )
        IntentCorrection.objects.create(
            conversation=conversation, previous=previous, corrected=intent, text=first or "", by=by
        )
        if current is None:
            current = ConversationIntent.objects.create(conversation=conversation, intent=intent, confidence=1.0)
        else:
            current.intent = intent
            current.save(update_fields=["intent"])
    return current
