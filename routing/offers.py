"""Offer mode: an item is offered to one agent at a time; accept assigns it, decline or timeout offers the next."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from omnidesk import realtime
from reporting import transitions as reporting_transitions  # rep
from routing import stats
from routing.assignments import give, refresh_load
from routing.models import AgentProfile, Assignment, Offer, RoutingItem


def refused_by(item: RoutingItem) -> list[int]:
    """Agents who already declined or let an offer of this item expire: it goes to someone else."""
    if item.queue.mode != item.queue.Mode.OFFER:
        return []
    return list(
        Offer.objects.filter(item=item, state__in=[Offer.State.DECLINED, Offer.State.EXPIRED]).values_list(
            "agent_id", flat=True
        )
    )


def make_offer(*, item: RoutingItem, profile: AgentProfile) -> Offer:
    """Offer `item` to the agent whose row the caller locked; the offer reserves one unit of capacity."""
    now = timezone.now()
    offer = Offer.objects.create(
        item=item, agent_id=profile.user_id, expires_at=now + timedelta(seconds=item.queue.offer_timeout_seconds)
    )
    item.state = RoutingItem.State.OFFERED
    item.agent_id = profile.user_id
    item.reason = ""
    item.save(update_fields=["state", "agent", "reason", "updated_at"])
    load = f"{item.capacity_class}_load"
    setattr(profile, load, profile.load(item.capacity_class) + 1)
    profile.save(update_fields=[load])
    reporting_transitions.conversation_offered_to_agent(
        conversation_id=item.conversation_id, agent_id=profile.user_id
    )  # rep
    realtime.publish_on_commit(
        type="offer.created", data=offer_data(offer), groups=[realtime.agent_group(profile.user_id)]
    )
    stats.publish_stats_on_commit()
    return offer


def offer_data(offer: Offer) -> dict[str, Any]:
    conversation = offer.item.conversation
    return {
        "offer_id": offer.pk,
        "conversation_id": conversation.pk,
        "customer": str(conversation.customer),
        "channel": conversation.channel.get_kind_display(),
        "expires_at": offer.expires_at.isoformat(),
    }


def get_offer_for_agent(user: Any, pk: int) -> Offer:
    """The agent's own offer; another agent's offers do not exist for them."""
    offer = Offer.objects.select_related("item__queue", "item__conversation").filter(pk=pk, agent=user).first()
    if offer is None:
        raise Offer.DoesNotExist("No such offer")
    return offer


def accept_offer(*, offer: Offer, by: Any) -> Offer:
    """Take the offered conversation. After its timeout the offer is refused and nothing changes."""
    with transaction.atomic():
        locked = Offer.objects.select_for_update().select_related("item__queue").get(pk=offer.pk)
        if locked.agent_id != by.pk:
            raise ValidationError(_("This offer was made to someone else."), code="not_your_offer")
        if locked.state != Offer.State.PENDING or timezone.now() >= locked.expires_at:
            raise ValidationError(
                _("This offer has expired; the conversation went back to the queue."), code="offer_expired"
            )
        item = RoutingItem.objects.select_for_update().select_related("queue").get(pk=locked.item_id)
        profile = AgentProfile.objects.select_for_update().get(user_id=by.pk)
        locked.state = Offer.State.ACCEPTED
        locked.decided_at = timezone.now()
        locked.save(update_fields=["state", "decided_at"])
        # The offer reserved the capacity; giving adds the assignment's unit, so take the reservation back first.
        load = f"{item.capacity_class}_load"
        setattr(profile, load, max(0, profile.load(item.capacity_class) - 1))
        give(item=item, profile=profile, source=Assignment.Source.OFFER)
    return locked


def decline_offer(*, offer: Offer, by: Any) -> Offer:
    """Refuse the offer: the item is offered to the next agent."""
    with transaction.atomic():
        locked = Offer.objects.select_for_update().get(pk=offer.pk)
        if locked.agent_id != by.pk:
            raise ValidationError(_("This offer was made to someone else."), code="not_your_offer")
        if locked.state != Offer.State.PENDING:
            raise ValidationError(_("This offer is no longer pending."), code="offer_not_pending")
        item = _close(locked, Offer.State.DECLINED)
    _offer_next(item)
    return locked


def expire_offers(*, now: Any = None) -> int:
    """The sweep: pending offers past their timeout expire and their items are offered to the next agent."""
    now = now or timezone.now()
    expired = 0
    ids = list(Offer.objects.filter(state=Offer.State.PENDING, expires_at__lte=now).values_list("pk", flat=True))
    for pk in ids:
        with transaction.atomic():
            offer = Offer.objects.select_for_update(skip_locked=True).filter(pk=pk, state=Offer.State.PENDING).first()
            if offer is None:
                continue
            item = _close(offer, Offer.State.EXPIRED)
        expired += 1
        _offer_next(item)
    return expired


def withdraw_offers(*, user: Any) -> None:
    """The agent left: their pending offers expire (inside the caller's transaction) and the items wait again."""
    for offer in Offer.objects.select_for_update().filter(agent=user, state=Offer.State.PENDING):
        _close(offer, Offer.State.EXPIRED)


def _close(offer: Offer, state: str) -> RoutingItem:
    offer.state = state
    offer.decided_at = timezone.now()
    offer.save(update_fields=["state", "decided_at"])
    item = RoutingItem.objects.select_for_update().select_related("queue").get(pk=offer.item_id)
    item.state = RoutingItem.State.WAITING
    item.agent = None
    item.save(update_fields=["state", "agent", "updated_at"])
    refresh_load(user=offer.agent)
    realtime.publish_on_commit(
        type="offer.withdrawn",
        data={"offer_id": offer.pk, "conversation_id": item.conversation_id, "state": state},
        groups=[realtime.agent_group(offer.agent_id)],
    )
    stats.publish_stats_on_commit()
    return item


def _offer_next(item: RoutingItem) -> None:
    # routing.services offers items (it imports this module): a declined or expired offer's re-route calls back.
    from routing.services import route_item

    with transaction.atomic():
        locked = (
            RoutingItem.objects.select_for_update(skip_locked=True)
            .select_related("queue")
            .filter(pk=item.pk, state=RoutingItem.State.WAITING)
            .first()
        )
        if locked is not None:
            route_item(item=locked)
