"""Routing's business verbs: enqueue, assign, release, presence and capacity. Every interface calls these.

Offers, transfers, intents and the periodic sweeps live beside this module (routing/offers.py, transfers.py,
intents.py, sweeps.py); the contract names other apps call are all here.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from interactions.models import Conversation, Interaction
from omnidesk import realtime
from reporting import transitions as reporting_transitions  # rep
from routing import agent_driven, engine, intents, item_driven, matching, new_items, offers, single_decision, stats
from routing.assignments import announce_routing_change, end_live_assignment, give, given, item_for, refresh_load
from routing.models import (
    AgentProfile,
    Assignment,
    Offer,
    Queue,
    RoutingItem,
    capacity_class_for,
)

DEFAULT_TIER_BOOST = {"standard": 0, "silver": 5, "gold": 10, "vip": 20}


def tier_boost(value_tier: str) -> int:
    boosts = getattr(settings, "OMNIDESK_VALUE_TIER_BOOST", DEFAULT_TIER_BOOST)
    return int(boosts.get(value_tier, 0))


# --- enqueue ------------------------------------------------------------------------------------------------------


def enqueue_conversation(*, conversation: Conversation, queue: Queue) -> RoutingItem:
    """Put a new conversation in routing and hand it to an agent at once if one fits.

    The intent detected on its first inbound text may send it to the intent's queue, add skills and raise its
    priority; the customer's value tier raises it too.
    """
    now = timezone.now()
    detected = intents.detect_for_conversation(conversation=conversation)
    intent = detected.intent if detected else None
    channel_kind = conversation.channel.kind
    if intent is not None and intent.queue is not None and serves(intent.queue, channel_kind):
        queue = intent.queue
    boost = tier_boost(conversation.customer.value_tier) + (intent.priority_boost if intent else 0)
    # No savepoint: nothing catches a failure here to carry on; the caller's transaction (the ingest's message)
    # rolls back with it, as it did through the savepoint. Two statements fewer per new case.
    with transaction.atomic(savepoint=False):
        item = RoutingItem(
            conversation=conversation,
            queue=queue,
            capacity_class=capacity_class_for(channel_kind),
            boost=boost,
            rank=engine.rank_for(queue=queue, boost=boost, queued_at=now),
            queued_at=now,
        )
        # The skills in one read, then the item, its skills and the conversation's queue in one statement.
        required, optional = new_items.wanted_skills(queue=queue, intent=intent)
        new_items.create_item(item=item, required=required, optional=optional, conversation=conversation, now=now)
        reporting_transitions.conversation_offered(conversation=conversation)  # rep: reporting event
        # Within an ingest batch, its earlier new cases' failed needs are not asked again (new_items.batch_failures).
        if route_item(item=item, failed=new_items.batch_failures()) is None:
            # Nothing assigned it: the new conversation is as its caller made it, with the queue create_item set (its
            # only caller, open_conversation, has just created it), so it is announced without reading it back.
            announce_routing_change(conversation=conversation, type="conversation.queued")
    return item


def serves(queue: Queue, channel_kind: str) -> bool:
    return not queue.channel_kinds or channel_kind in queue.channel_kinds


# --- the decisions ------------------------------------------------------------------------------------------------


def route_item(
    *,
    item: RoutingItem,
    failed: dict[tuple[Any, ...], str] | None = None,
    hopeless: bool = False,
) -> AgentProfile | None:
    """Give one waiting item to the best agent now (push) or offer it (offer mode); else store why it waits.

    The caller holds the item's lock (or just created it). `failed` remembers, within one decision, the needs
    (class, skills, refusals) no agent could meet: the next item with the same needs is not asked again.
    `hopeless`, the caller's snapshot check (item_driven.next_batch: no free agent has the skills), lets the item fail
    without the locking query.
    """
    # No savepoint: the caller's transaction holds the item's lock, and nothing here needs a partial rollback.
    with transaction.atomic(savepoint=False):
        skill_ids = engine.wanted_skill_ids(item)
        refused = offers.refused_by(item)
        needs = (item.queue_id, item.capacity_class, tuple(skill_ids), tuple(sorted(refused)))
        profile = None
        push = item.queue.mode != Queue.Mode.OFFER and connection.vendor == "postgresql"
        if not hopeless and (failed is None or needs not in failed):
            if push:
                # Candidate, lock and assignment in one statement; nothing is written when nobody can take it.
                now = timezone.now()
                chosen = engine.lock_and_assign(
                    item=item, skill_ids=skill_ids, exclude_user_ids=refused, source=Assignment.Source.ROUTED, now=now
                )
                if chosen is not None:
                    given(item=item, profile=chosen[0], recorded=chosen[1], now=now)
                    return chosen[0]
            else:
                profile = engine.lock_best_agent(item=item, skill_ids=skill_ids, exclude_user_ids=refused)
        if profile is None:
            engine.note_waiting(item=item, skill_ids=skill_ids, refused=refused, needs=needs, failed=failed)
            return None
        if item.queue.mode == Queue.Mode.OFFER:
            offers.make_offer(item=item, profile=profile)
        else:
            give(item=item, profile=profile, source=Assignment.Source.ROUTED)
        return profile


def route_next(*, queue: Queue) -> RoutingItem | None:
    """One decision for `queue`: the highest-priority waiting item that some agent can take now gets one."""
    return _decide(queue=queue, savepoint=True)


def _decide(*, queue: Queue, savepoint: bool, one_statement: bool = True) -> RoutingItem | None:
    # `savepoint` False: the caller's transaction is the unit (route_queue's groups), and a savepoint per batch would
    # cost two statements per decision for a partial rollback nobody uses (an error fails the group).
    # `one_statement` (push queues on PostgreSQL): a batch (two when the first has nothing to try), the first servable
    # item's candidate and its assignment in one statement (routing/single_decision.py), the rest of the batch item
    # by item only when that item found nobody; False: the same walk statement by statement.
    one_statement = one_statement and queue.mode == Queue.Mode.PUSH and connection.vendor == "postgresql"
    after: RoutingItem | None = None
    failed: dict[tuple[Any, ...], str] = {}
    # Needs no agent could meet in this decision: later batches leave such items out in SQL, so a queue whose head
    # is blocked (a skill nobody free has) costs a few queries, not a scan of every waiting item.
    blocked: list[item_driven.Needs] = []
    while True:
        with transaction.atomic(savepoint=savepoint):
            start = 0
            if one_statement:
                step = single_decision.walk(queue=queue, after=after, blocked=blocked, failed=failed)
                if step.item is not None or step.batch is None:
                    return step.item
                batch, start = step.batch, step.start
            else:
                batch = item_driven.next_batch(queue=queue, after=after, blocked=blocked)
                if after is None:
                    engine.explain_full_classes(queue=queue, classes_with_room=batch.classes, available=batch.available)
                if not batch.classes or not batch.items:
                    return None
            for position in range(start, len(batch.items)):
                item = batch.items[position]  # built when reached: a decision usually stops at its first servable
                item.queue = queue
                if route_item(item=item, failed=failed, hopeless=not batch.servable[position]) is not None:
                    return item
                if queue.mode == Queue.Mode.PUSH and item_driven.needs_of(item) not in blocked:
                    blocked.append(item_driven.needs_of(item))
            after = batch.items[-1]


def route_queue(*, queue: Queue, limit: int = 1000, per_transaction: int = 1) -> int:
    """Assign as much of `queue` as free capacity allows (the periodic sweep and presence changes).

    `per_transaction` > 1 makes up to that many decisions in one transaction, their announcements written and sent
    together (realtime.batched): the commit, the announcement's statements and its push are paid once per group
    instead of once per decision. The decisions and their order are the same; what changes is that a failure rolls
    back its whole group (earlier groups stay), and the agents chosen stay locked until the group commits (rivals
    skip them or, for an agent-driven refill of one of them, wait for the group). Default 1: as before.
    """
    routed = 0
    while routed < limit:
        size = min(per_transaction, limit - routed)
        if size <= 1:
            if route_next(queue=queue) is None:
                return routed
            routed += 1
            continue
        with transaction.atomic(), realtime.batched():
            # Push mode on PostgreSQL: the group's decisions matched in memory and written in one statement
            # (routing/matching.py), the same ones; None when a chosen agent changed meanwhile.
            grouped = queue.mode == Queue.Mode.PUSH and connection.vendor == "postgresql"
            done = matching.decide_group(queue=queue, size=size) if grouped else None
            if done is None:
                done = 0
                while done < size and _decide(queue=queue, savepoint=False) is not None:
                    done += 1
        routed += done
        if done < size:
            return routed
    return routed


def route_for_agent(*, user: Any, limit: int = 100) -> int:
    """Capacity was freed or the agent came back: give them the best waiting items they can take.

    One transaction for all of them, their announcements written and sent together (realtime.batched): the agent's
    row is locked once and kept in memory as each assignment changes it (`given`, `make_offer`), where each item
    used to be a transaction of its own (a savepoint inside a release) that locked and read the agent again. The
    items and their order are the same; a failure rolls back the whole refill.
    """
    with transaction.atomic():
        profile = AgentProfile.objects.select_for_update().filter(user=user).first()
        if profile is None:
            return 0
        profile.user = user
        return _refill(profile=profile, limit=limit)


def _refill(*, profile: AgentProfile, limit: int = 100) -> int:
    """route_for_agent's loop, for the agent whose row the caller locked (and read as it now is)."""
    routed = 0
    if profile.presence != AgentProfile.Presence.AVAILABLE:
        return routed
    with realtime.batched():
        while routed < limit:
            classes = engine.classes_with_room(profile)
            if not classes:
                return routed
            item = agent_driven.lock_best_item_for_agent(profile=profile, classes=classes)
            if item is None:
                return routed
            if item.queue.mode == Queue.Mode.OFFER:
                offers.make_offer(item=item, profile=profile)
            else:
                give(item=item, profile=profile, source=Assignment.Source.ROUTED)
            routed += 1
    return routed


# Kept for the callers of the minimal routing: one decision for a queue.
def assign_next(*, queue: Queue) -> Conversation | None:
    item = route_next(queue=queue)
    return item.conversation if item else None


def assign_waiting(*, queue: Queue, limit: int = 100) -> int:
    return route_queue(queue=queue, limit=limit)


# --- direct assignment and release --------------------------------------------------------------------------------


def assign_conversation(*, conversation: Conversation, agent: Any, by: Any = None, note: str = "") -> Conversation:
    """Give `conversation` to `agent` now, whatever the queue order (an answered call, a supervisor's reassignment).

    Capacity is not checked: the agent already has the call, or a supervisor decided. The history keeps it.
    """
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().select_related("channel").get(pk=conversation.pk)
        previous_id = locked.assignee_id
        if previous_id == agent.pk:
            return locked
        end_live_assignment(conversation=locked, reason="reassigned")
        item = item_for(locked)
        now = timezone.now()
        Assignment.objects.create(
            conversation=locked,
            agent=agent,
            queue_id=item.queue_id,
            capacity_class=item.capacity_class,
            source=Assignment.Source.TRANSFER if note else Assignment.Source.DIRECT,
        )
        Offer.objects.filter(item=item, state=Offer.State.PENDING).update(state=Offer.State.DECLINED, decided_at=now)
        item.state = RoutingItem.State.ASSIGNED
        item.agent = agent
        item.reason = ""
        item.save(update_fields=["state", "agent", "reason", "updated_at"])
        locked.assignee = agent
        locked.assigned_at = now
        locked.save(update_fields=["assignee", "assigned_at", "updated_at"])
        AgentProfile.objects.filter(user=agent).update(last_assigned_at=now)
        refresh_load(user=agent)
        locked = Conversation.objects.select_related("customer", "channel", "assignee").get(pk=locked.pk)
        extra = [] if previous_id is None else [realtime.agent_group(previous_id)]
        announce_routing_change(conversation=locked, type="conversation.assigned", extra_groups=extra)
    if previous_id is not None:
        transaction.on_commit(lambda: route_for_user_id(previous_id))
    return locked


def route_for_user_id(user_id: int) -> None:
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is not None:
        route_for_agent(user=user)


def release_capacity(*, agent: Any, queue: Queue | None) -> None:
    """A conversation of `agent` was resolved: close its routing, give the capacity back and pull waiting work."""
    if agent is None:
        return
    # One transaction with the caller's (the resolve's), without savepoints: nothing catches a failure here to carry
    # on. The recount locks the agent's row and returns it as it now is, so the refill starts from it.
    with transaction.atomic(savepoint=False):
        agent_driven.close_resolved(user_id=agent.pk, now=timezone.now())
        profile = refresh_load(user=agent)
        stats.publish_stats_on_commit()
        if profile is not None:
            profile.user = agent
            _refill(profile=profile)


def move_to_queue(
    *, item: RoutingItem, queue: Queue, reset_skills: bool, reason: str, overflowed_at: datetime | None = None
) -> AgentProfile | None:
    """Move a conversation's routing item to `queue`, waiting there, and route it at once; who got it, or None.

    The caller holds the item's lock. A live assignment ends with `reason` (the agent's capacity comes back and they
    are given other work after commit); the item keeps its original waiting time, re-ranked in `queue`.
    `reset_skills=True` replaces the item's skills with `queue`'s (a transfer: a person chose the queue for what the
    case needs); False keeps them (an overflow: waiting longer does not change what the customer needs, and
    `overflowed_at` already drops the optional ones).
    """
    conversation = Conversation.objects.get(pk=item.conversation_id)
    previous_id = conversation.assignee_id
    end_live_assignment(conversation=conversation, reason=reason)
    item.queue = queue
    item.state = RoutingItem.State.WAITING
    item.agent = None
    item.overflowed_at = overflowed_at
    item.rank = engine.rank_for(queue=queue, boost=item.boost, queued_at=item.queued_at)
    item.save(update_fields=["queue", "state", "agent", "overflowed_at", "rank", "updated_at"])
    if reset_skills:
        item.set_skills(
            required=set(queue.required_skills.values_list("pk", flat=True)),
            optional=set(queue.optional_skills.values_list("pk", flat=True)),
        )
    Conversation.objects.filter(pk=conversation.pk).update(queue=queue, assignee=None, assigned_at=None)
    profile = route_item(item=RoutingItem.objects.select_related("queue").get(pk=item.pk))
    if profile is None:
        fresh = Conversation.objects.select_related("customer", "channel").get(pk=conversation.pk)
        extra = [realtime.agent_group(previous_id)] if previous_id else []
        announce_routing_change(conversation=fresh, type="conversation.queued", extra_groups=extra)
    if previous_id is not None:
        transaction.on_commit(lambda: route_for_user_id(previous_id))
    return profile


# --- presence and capacity ----------------------------------------------------------------------------------------


# What a person may choose; offline is set by the system only (no desk socket for the timeout). Adapters offer these.
CHOOSABLE_PRESENCES = (AgentProfile.Presence.AVAILABLE, AgentProfile.Presence.AWAY)


def set_presence(*, user: Any, presence: str, by_system: bool = False) -> AgentProfile:
    """Change an agent's presence; available pulls waiting work, offline gives back unanswered items.

    A person chooses one of CHOOSABLE_PRESENCES; `by_system` (the desk sockets, the sweep) may also set offline.
    An agent's own changes are limited to OMNIDESK_PRESENCE_CHANGES_PER_MINUTE (flapping would churn routing).
    """
    if presence not in AgentProfile.Presence.values:
        raise ValidationError(_("Unknown presence %(value)s.") % {"value": presence}, code="unknown_presence")
    if not by_system and presence not in CHOOSABLE_PRESENCES:
        # Offline follows the desk's sockets (the presence sweep): a person who wants no work chooses Away.
        raise ValidationError(_("Choose Available or Away."), code="presence_not_choosable")
    limit = getattr(settings, "OMNIDESK_PRESENCE_CHANGES_PER_MINUTE", 10)
    with transaction.atomic():
        profile, _created = AgentProfile.objects.select_for_update().get_or_create(user=user)
        if profile.presence == presence:
            return profile
        now = timezone.now()
        reporting_transitions.presence_left(profile=profile, now=now)  # rep: staffed time for occupancy
        if not by_system:
            window = profile.presence_window_started_at
            if window is None or now - window >= timedelta(minutes=1):
                profile.presence_window_started_at = now
                profile.presence_window_changes = 0
            if profile.presence_window_changes >= limit:
                raise ValidationError(
                    _("Too many presence changes: at most %(limit)d a minute. Try again shortly.") % {"limit": limit},
                    code="presence_rate_limited",
                )
            profile.presence_window_changes += 1
        profile.presence = presence
        profile.presence_changed_at = now
        profile.save(
            update_fields=["presence", "presence_changed_at", "presence_window_started_at", "presence_window_changes"]
        )
        returned = return_unanswered(user=user) if presence == AgentProfile.Presence.OFFLINE else []
        # The agent's own desks (every tab) show the presence as it now is, whoever changed it (socket, sweep, API).
        realtime.publish_on_commit(
            type="agent.presence_changed", data={"presence": presence}, groups=[realtime.agent_group(user.pk)]
        )
        stats.publish_stats_on_commit()
    for item in returned:
        with transaction.atomic():
            locked = RoutingItem.objects.select_for_update(skip_locked=True).filter(pk=item.pk, state="waiting").first()
            if locked is not None:
                route_item(item=locked)
    if presence == AgentProfile.Presence.AVAILABLE:
        route_for_agent(user=user)
    return profile


def return_unanswered(*, user: Any) -> list[RoutingItem]:
    """Put back in their queue, with their original waiting time, the agent's items no reply has gone out on yet."""
    offers.withdraw_offers(user=user)
    returned = []
    live = Assignment.objects.filter(agent=user, ended_at__isnull=True).select_related("conversation")
    for assignment in live:
        conversation = assignment.conversation
        # A person's message answers; an automatic one (the email acknowledgement, no author) does not.
        answered = Interaction.objects.filter(
            conversation=conversation,
            direction=Interaction.Direction.OUTBOUND,
            kind=Interaction.Kind.MESSAGE,
            author__isnull=False,
            created_at__gte=assignment.started_at,
        ).exists()
        if answered or conversation.status == Conversation.Status.RESOLVED:
            continue
        assignment.ended_at = timezone.now()
        assignment.end_reason = "agent_offline"
        assignment.save(update_fields=["ended_at", "end_reason"])
        item = RoutingItem.objects.select_for_update().get(conversation=conversation)
        item.state = RoutingItem.State.WAITING
        item.agent = None
        item.save(update_fields=["state", "agent", "updated_at"])
        Conversation.objects.filter(pk=conversation.pk).update(assignee=None, assigned_at=None)
        conversation = Conversation.objects.select_related("customer", "channel").get(pk=conversation.pk)
        announce_routing_change(
            conversation=conversation, type="conversation.queued", extra_groups=[realtime.agent_group(user.pk)]
        )
        returned.append(item)
    refresh_load(user=user)
    return returned


def recompute_ranks(*, queue: Queue, item_ids: Collection[int] | None = None) -> None:
    """After a queue's base priority or acceleration changed: re-rank what waits in it."""
    items = RoutingItem.objects.filter(queue=queue).exclude(state=RoutingItem.State.CLOSED)
    if item_ids is not None:
        items = items.filter(pk__in=list(item_ids))
    for item in items:
        item.rank = engine.rank_for(queue=queue, boost=item.boost, queued_at=item.queued_at)
        item.save(update_fields=["rank"])


def socket_connected(*, user: Any) -> None:
    """A desk socket of the agent opened (the 60 s offline rule counts sockets)."""
    AgentProfile.objects.get_or_create(user=user)
    AgentProfile.objects.filter(user=user).update(socket_count=F("socket_count") + 1, last_seen_at=timezone.now())
    # Presence follows the desk: an open desk makes an offline agent available; one who chose Away stays away.
    if AgentProfile.objects.filter(user=user, presence=AgentProfile.Presence.OFFLINE).exists():
        set_presence(user=user, presence=AgentProfile.Presence.AVAILABLE, by_system=True)


def socket_disconnected(*, user: Any) -> None:
    """A desk socket closed; with none left for the timeout, the sweep sets the agent offline."""
    AgentProfile.objects.filter(user=user, socket_count__gt=0).update(socket_count=F("socket_count") - 1)
    AgentProfile.objects.filter(user=user).update(last_seen_at=timezone.now())
