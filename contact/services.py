"""The contact page's load-aware decision: which solutions to offer for an intent right now, in what order, and why.

One call, `offer_solutions`, reads the live EWT of each queue a live solution would use (per channel kind, with the
intent's skills), the queues' business hours and the scenario's conditions. It returns wait *ranges*, never a
precise promise, hides a live channel whose estimate rests on too few recent samples, and never sends a visitor who
was kept out of one long queue into another long one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from contact.load import QueueLoad, current_load, load_ttl_seconds, queue_is_open
from contact.models import ContactSite, IntentNode, ScenarioVersion
from contact.scenarios import LIVE_KINDS
from routing.models import Queue

# (upper bound in seconds, shown range in minutes): an estimate is always shown as a range around it.
WAIT_RANGES = ((60, (0, 1)), (180, (1, 3)), (300, (3, 5)), (600, (5, 10)), (1200, (10, 20)), (2400, (20, 40)))
DEFAULT_MAX_EWT_SECONDS = 600


def min_samples() -> int:
    return int(getattr(settings, "OMNIDESK_CONTACT_MIN_EWT_SAMPLES", 5))


@dataclass
class OfferContext:
    site: ContactSite
    version: ScenarioVersion
    language: str = "en"
    device: str = "desktop"
    segment: str = "standard"
    now: datetime = field(default_factory=timezone.now)
    # Load read once per (queue, channel kind) within a decision (a chat and a phone solution may share a queue).
    loads: dict[tuple[int, str], QueueLoad] = field(default_factory=dict)


@dataclass(frozen=True)
class OfferedSolution:
    kind: str
    target: str
    rule: str  # the condition that decided (for the funnel and the report)
    reason: str  # shown to the visitor
    wait_minutes: tuple[int, int | None] | None = None  # a range, (40, None) meaning "more than 40 min"
    ewt_seconds: float | None = None


@dataclass(frozen=True)
class Decision:
    offered: list[OfferedSolution]
    hidden: list[tuple[str, str]]  # (kind, rule)

    def as_event_data(self) -> dict[str, Any]:
        return {
            "offered": [{"kind": s.kind, "rule": s.rule, "ewt": s.ewt_seconds} for s in self.offered],
            "hidden": [{"kind": kind, "rule": rule} for kind, rule in self.hidden],
        }


def wait_range(seconds: float) -> tuple[int, int | None]:
    for bound, minutes in WAIT_RANGES:
        if seconds <= bound:
            return minutes
    return (40, None)


def describe_wait(minutes: tuple[int, int | None]) -> str:
    low, high = minutes
    if high is None:
        return _("more than %(low)s min") % {"low": low}
    if low == 0:
        return _("under %(high)s min") % {"high": high}
    return _("about %(low)s–%(high)s min") % {"low": low, "high": high}


def _queue_for(context: OfferContext, node: IntentNode, channel_kind: str) -> Queue | None:
    intent_queue = node.intent.queue if node.intent is not None else None
    if intent_queue is not None and (not intent_queue.channel_kinds or channel_kind in intent_queue.channel_kinds):
        return intent_queue
    channel = context.site.chat_channel if channel_kind == "chat" else context.site.voice_channel
    return channel.queue if channel is not None else None


def _load(context: OfferContext, queue: Queue, channel_kind: str, skill_ids: tuple[int, ...]) -> QueueLoad:
    key = (queue.pk, channel_kind)
    if key not in context.loads:
        context.loads[key] = current_load(queue=queue, channel_kind=channel_kind, skill_ids=skill_ids, now=context.now)
    return context.loads[key]


def _filtered_out(solution: dict[str, Any], context: OfferContext) -> str:
    if solution["segments"] and context.segment not in solution["segments"]:
        return "segment"
    if solution["languages"] and context.language not in solution["languages"]:
        return "language"
    if solution["devices"] and context.device not in solution["devices"]:
        return "device"
    return ""


def _email_reason(queue: Queue | None) -> str:
    minutes = queue.sla_first_response_minutes if queue is not None else None
    if minutes:
        hours = max(1, round(minutes / 60))
        return _("Email — answer within %(hours)s working hours") % {"hours": hours}
    return _("Email — we answer as soon as we can")


_skills: dict[int, tuple[float, tuple[int, ...]]] = {}


def required_skill_ids(node: IntentNode) -> tuple[int, ...]:
    """The intent's skills, cached like the load (the referential changes far less often than visitors come)."""
    if node.intent_id is None:
        return ()
    cached = _skills.get(node.intent_id)
    if cached is not None and time.monotonic() - cached[0] < load_ttl_seconds():
        return cached[1]
    assert node.intent is not None
    ids = tuple(sorted(node.intent.required_skills.values_list("pk", flat=True)))
    _skills[node.intent_id] = (time.monotonic(), ids)
    return ids


def offer_solutions(*, intent: IntentNode, context: OfferContext) -> Decision:
    """The scenario's solutions available now, in order, each with its reason; the others with why they are hidden."""
    skill_ids = required_skill_ids(intent)
    offered: list[OfferedSolution] = []
    hidden: list[tuple[str, str]] = []
    # Once a live queue was found long, another live solution must be short by that queue's own standard.
    long_limit: float | None = None
    with override(context.language):
        for solution in context.version.solutions:
            kind = solution["kind"]
            rule = _filtered_out(solution, context)
            if rule:
                hidden.append((kind, rule))
                continue
            if kind in LIVE_KINDS or kind == "callback":
                queue = _queue_for(context, intent, "chat" if kind == "chat" else "voice")
                if queue is None:
                    hidden.append((kind, "no_channel"))
                    continue
            if kind in LIVE_KINDS:
                assert queue is not None
                if solution["business_hours"] and not queue_is_open(queue, context.now):
                    hidden.append((kind, "closed"))
                    continue
                load = _load(context, queue, "chat" if kind == "chat" else "voice", skill_ids)
                limit = solution["max_ewt_seconds"] or DEFAULT_MAX_EWT_SECONDS
                if long_limit is not None:
                    limit = min(limit, long_limit)
                if load.agents < max(1, solution["min_agents"]) or load.ewt_seconds is None:
                    hidden.append((kind, "no_agent"))
                    continue
                if load.ewt_seconds > 0 and load.samples < min_samples():
                    hidden.append((kind, "too_few_samples"))
                    continue
                if load.ewt_seconds > limit:
                    hidden.append((kind, "long_wait"))
                    long_limit = limit if long_limit is None else min(long_limit, limit)
                    continue
                minutes = wait_range(load.ewt_seconds)
                label = _("Chat") if kind == "chat" else _("Phone")
                reason = _("%(channel)s — %(wait)s wait") % {"channel": label, "wait": describe_wait(minutes)}
                offered.append(
                    OfferedSolution(kind, solution["target"], "short_wait", reason, minutes, load.ewt_seconds)
                )
            elif kind == "callback":
                offered.append(OfferedSolution(kind, "", "callback_slots", _("We call you back — pick a slot")))
            elif kind == "email":
                if context.site.email_channel is None:
                    hidden.append((kind, "no_channel"))
                    continue
                offered.append(OfferedSolution(kind, "", "email", _email_reason(context.site.email_channel.queue)))
            else:
                offered.append(OfferedSolution(kind, solution["target"], "always", _self_reason(kind)))
    if context.device == "mobile":
        mobile_first = {s["kind"] for s in context.version.solutions if s["mobile_first"]}
        offered.sort(key=lambda s: s.kind not in mobile_first)  # stable: the scenario's order otherwise
    return Decision(offered, hidden)


def _self_reason(kind: str) -> str:
    return {
        "self_service": _("Answer online — available now"),
        "form": _("Online form — available now"),
        "whatsapp": _("WhatsApp — we answer in the app"),
        "sms": _("Text message — we answer by SMS"),
    }.get(kind, "")
