"""The case's own verbs: open one, and let routing follow it when the customer changes channel.

Before, opening was written four times and the copies drifted: voice conversations routed to an intent queue and
callbacks never started their SLA clocks. Now every case opened for customer work is routed and timed the same way;
the one deliberate exception is a case an agent opens themselves (an outgoing call), which is theirs at once and has
no first-response clock, since the agent's own call is the response.

Splitting and merging cases live in interactions/case_changes.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from customers.models import Customer
from interactions import continuity, events, inbound_bulk
from interactions.models import Channel, Conversation, Interaction
from omnidesk import compiled_queries
from routing import engine, new_items, sla, stats
from routing.assignments import end_live_assignment
from routing.models import AgentProfile, Queue, RoutingItem, capacity_class_for
from routing.services import assign_conversation, enqueue_conversation, route_for_agent, route_item


def open_conversation(
    *,
    customer: Customer,
    channel: Channel,
    entry: dict[str, Any],
    queue: Queue | None = None,
    agent: Any = None,
    now: datetime | None = None,
) -> Interaction:
    """Open a case for `customer` on `channel` with its first timeline entry (`entry`: the Interaction's fields).

    Customer work is routed in `queue` (default: the channel's; an intent may still redirect it) and its SLA clocks
    start. A case opened by `agent` is assigned to them at once, outside the queue order, with no clock. The caller
    holds the customer's lock and announces the entry. Returns the entry, its `conversation` as it now stands.
    """
    now = now or timezone.now()
    # Their INSERTs as SQL text, not through the ORM's save machinery (inbound_bulk.create_now: the same rows, the same
    # signals): on the ingest path every new case pays them.
    # Both in one round trip (inbound_bulk.create_case_now).
    conversation = Conversation(
        customer=customer,
        channel=channel,
        last_message_at=now,
        queue=(queue or channel.queue) if agent is not None else None,
    )
    interaction = Interaction(conversation=conversation, customer=customer, channel=channel, **entry)
    inbound_bulk.create_case_now(conversation, interaction)
    if agent is not None:
        conversation = assign_conversation(conversation=conversation, agent=agent)
    else:
        # After the entry: routing detects the intent from the first inbound text.
        # A new case has no stored intent until routing detects one (routing/intents.py notes it on the case): its
        # offer's and first message's reporting events then need not read it (reporting/events.py loaded_context).
        new_items.note_stored_intent(conversation, None)
        with events.latest_entry_is(conversation_id=conversation.pk, text=interaction.text):
            item = enqueue_conversation(conversation=conversation, queue=queue or channel.queue)
        if item.state != RoutingItem.State.WAITING:
            # Routing assigned or offered it through another instance of the row; the case as it now is. A waiting
            # item's case is this instance as routing left it (its queue, queue time and assignee are set on it).
            conversation.refresh_from_db(fields=["assignee", "assigned_at", "queue", "queued_at"])
        _reuse_loaded_queue(conversation, queue, channel)
        sla.start_sla_clocks(conversation=conversation)
    interaction.conversation = conversation
    return interaction


def _reuse_loaded_queue(conversation: Conversation, queue: Queue | None, channel: Channel) -> None:
    """The case's queue is usually one the caller has loaded (the channel's, fetched with the event): the SLA clocks
    read it, so spare them a SELECT per new case."""
    loaded = [queue] if queue is not None else []
    if Channel._meta.get_field("queue").is_cached(channel):
        loaded.append(channel.queue)
    for candidate in loaded:
        if candidate is not None and candidate.pk == conversation.queue_id:
            conversation.queue = candidate
            return


def note_inbound_channel(*, conversation: Conversation, channel: Channel, deferred: bool = False) -> bool:
    """The customer reached us on `channel`: it becomes the case's channel (the reply default) if we can answer on it.

    A call is not a channel we can write back on, so a call leaves the reply channel where it was. Returns True when
    the case's channel changed. The caller holds the case's lock. `deferred`: the UPDATE goes with the ingest
    batch's (interactions/inbound_bulk.py).
    """
    if channel.kind == Channel.Kind.VOICE or channel.pk == conversation.channel_id:
        return False
    conversation.channel = channel
    if deferred:
        inbound_bulk.touch_case(conversation, "channel")
    else:
        conversation.save(update_fields=["channel", "updated_at"])
    return True


@dataclass(frozen=True)
class Followed:
    """What routing did when the customer wrote again: `rerouted` the case back to its queue, away from `previous`."""

    rerouted: bool
    previous_agent_id: int | None = None


def agent_serves(*, agent_id: int, channel_kind: str) -> bool:
    profile = AgentProfile.objects.filter(user_id=agent_id, user__is_active=True).first()
    return profile is not None and profile.capacity(capacity_class_for(channel_kind)) > 0


def locked_routing_item_of(*, conversation_id: int) -> QuerySet[RoutingItem]:
    """The case's routing item, locked (`follow_case` runs it compiled once: omnidesk/compiled_queries.py)."""
    return RoutingItem.objects.select_for_update().filter(conversation_id=conversation_id).order_by("pk")[:1]


def follow_case(*, conversation: Conversation, channel: Channel, reopened: bool = False) -> Followed:
    """The customer wrote (or called) again, on `channel`, in a case routing already knows: routing follows the case.

    - A waiting or offered case keeps its place in its queue.
    - An assigned case stays with its agent — no new assignment, the same screen — when the agent can serve the
      channel's kind (capacity for its class above zero, or the class the case was assigned as). Its load class does
      not change: the agent already counts it.
    - Otherwise (the agent cannot serve that kind, is no longer an agent, or the case was resolved and `reopened`)
      the live assignment ends and the case goes back to its queue, as work of the new channel's class, routed now.
    - A case routing never knew (created by hand, never enqueued) is left alone, as before.

    The caller holds the case's lock and announces the result.
    """
    known, item = inbound_bulk.locked_routing_item(
        conversation_id=conversation.pk, candidates=partial(continuity.batch_case_ids, unresolved=True)
    )
    if not known:
        found = compiled_queries.fetch(locked_routing_item_of, conversation_id=conversation.pk)
        item = found[0] if found else None
    if item is None:
        return Followed(rerouted=False)
    wanted = capacity_class_for(channel.kind)
    if not reopened and item.state in (RoutingItem.State.WAITING, RoutingItem.State.OFFERED):
        return Followed(rerouted=False)
    agent_id = conversation.assignee_id
    assigned = not reopened and item.state == RoutingItem.State.ASSIGNED and agent_id is not None
    if (
        assigned
        and agent_id is not None
        and (item.capacity_class == wanted or agent_serves(agent_id=agent_id, channel_kind=channel.kind))
    ):
        return Followed(rerouted=False)
    # Routing moves the case: it reads and writes it and its item, which must hold what the batch wrote so far.
    inbound_bulk.flush()
    inbound_bulk.forget_routing_item(conversation_id=conversation.pk)
    previous_id = conversation.assignee_id
    end_live_assignment(conversation=conversation, reason="channel_switch")
    now = timezone.now()
    item.capacity_class = wanted
    item.state = RoutingItem.State.WAITING
    item.agent = None
    item.reason = ""
    item.queued_at = now
    item.rank = engine.rank_for(queue=item.queue, boost=item.boost, queued_at=now)
    item.save()
    Conversation.objects.filter(pk=conversation.pk).update(
        queue=item.queue, queued_at=now, assignee=None, assigned_at=None
    )
    conversation.assignee, conversation.assigned_at, conversation.queued_at = None, None, now
    route_item(item=RoutingItem.objects.select_related("queue").get(pk=item.pk))
    stats.publish_stats_on_commit()
    if previous_id is not None:
        # The agent it left has room again: give them the next waiting work, once this decision is committed.
        transaction.on_commit(lambda: pull_work_for(previous_id))
    return Followed(rerouted=True, previous_agent_id=previous_id)


def pull_work_for(user_id: int) -> None:
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is not None:
        route_for_agent(user=user)
