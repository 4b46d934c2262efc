"""Callback slots from the contact page: in the voice queue's business hours, least loaded first, never overfull."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from contact.load import calendar_of
from contact.models import ContactSite
from interactions.models import Channel
from interactions.phone.callbacks import request_callback
from interactions.phone.models import Callback
from routing.business_time import is_open

HORIZON = timedelta(days=2)
MAX_SLOTS = 6


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    booked: int
    capacity: int

    @property
    def load(self) -> float:
        return self.booked / self.capacity


def _booked(channel: Channel, starts: list[datetime]) -> dict[datetime, int]:
    counts: dict[datetime, int] = dict.fromkeys(starts, 0)
    for start in (
        Callback.objects.filter(channel=channel, window_start__in=starts, reason=Callback.Reason.REQUESTED)
        .exclude(status=Callback.Status.CANCELLED)
        .values_list("window_start", flat=True)
    ):
        counts[start] = counts.get(start, 0) + 1
    return counts


def slot_starts(*, site: ContactSite, now: datetime) -> list[datetime]:
    """Every slot start within the horizon when the voice queue is open for the whole slot."""
    channel = site.voice_channel
    if channel is None:
        return []
    calendar = calendar_of(channel.queue)
    length = timedelta(minutes=site.slot_minutes)
    step_seconds = int(length.total_seconds())
    lead = timedelta(minutes=site.booking_lead_minutes)
    first = datetime.fromtimestamp((int((now + lead).timestamp()) // step_seconds + 1) * step_seconds, tz=now.tzinfo)
    starts = []
    start = first
    while start < now + HORIZON:
        if is_open(calendar, start) and is_open(calendar, start + length - timedelta(seconds=1)):
            starts.append(start)
        start += length
    return starts


def free_slots(*, site: ContactSite, now: datetime | None = None) -> list[Slot]:
    """The least loaded free slots (booked ÷ capacity), earliest first among equals."""
    now = now or timezone.now()
    if site.voice_channel is None:
        return []
    starts = slot_starts(site=site, now=now)
    booked = _booked(site.voice_channel, starts)
    length = timedelta(minutes=site.slot_minutes)
    slots = [Slot(s, s + length, booked[s], site.slot_capacity) for s in starts if booked[s] < site.slot_capacity]
    slots.sort(key=lambda slot: (slot.load, slot.start))
    return sorted(slots[:MAX_SLOTS], key=lambda slot: slot.start)


def book_callback(*, site: ContactSite, start: datetime, number: str, name: str, note: str) -> Callback:
    """Book the slot starting at `start`; ValidationError when it has ended, is outside the hours or is full."""
    channel = site.voice_channel
    if channel is None:
        raise ValidationError(_("Callbacks are not available here."), code="no_voice")
    now = timezone.now()
    # A slot that has begun is still bookable until it ends: the page offers the next slot even when it starts a
    # second later, and the visitor's click then lands in it (we call within the window, so at once).
    if start + timedelta(minutes=site.slot_minutes) <= now:
        raise ValidationError(_("This slot is in the past; pick another one."), code="slot_past")
    # The list the visitor saw was computed a little earlier: a slot it offered is still bookable while in the future.
    grace = timedelta(minutes=site.booking_lead_minutes + site.slot_minutes)
    if start not in slot_starts(site=site, now=now - grace):
        raise ValidationError(_("This slot is outside our opening hours; pick another one."), code="slot_closed")
    with transaction.atomic():
        # One booking at a time per voice channel: the count and the insert must not interleave.
        Channel.objects.select_for_update().filter(pk=channel.pk).first()
        if _booked(channel, [start])[start] >= site.slot_capacity:
            raise ValidationError(_("This slot is full; pick another one."), code="slot_full")
        return request_callback(
            channel=channel,
            number=number,
            name=name,
            window_start=start,
            window_end=start + timedelta(minutes=site.slot_minutes),
            note=note,
        )
