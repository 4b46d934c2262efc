"""Routing: queues, skills, agents' capacity and presence, the waiting items, and the history of who got what."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

# An agent may be given at most this many conversations of one class at once; more is a typo, not a staffing plan.
MAX_CAPACITY = 50
# Capacity blending, in units (see routing/capacity.py): a call fills an agent, a chat takes a third, an email a fifth.
MAX_UNITS = 1000
DEFAULT_CAPACITY_UNITS = 15
DEFAULT_UNIT_COST = {"voice": 15, "chat": 5, "email": 3}


class CapacityClass(models.TextChoices):
    """What a conversation occupies: a channel kind's load on an agent (see `capacity_class_for`)."""

    VOICE = "voice", _("Voice")
    CHAT = "chat", _("Chat")
    EMAIL = "email", _("Email")


def capacity_class_for(channel_kind: str) -> str:
    if channel_kind == "voice":
        return CapacityClass.VOICE
    if channel_kind == "email":
        return CapacityClass.EMAIL
    return CapacityClass.CHAT


class Skill(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.CharField(_("description"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("skill")
        verbose_name_plural = _("skills")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Queue(models.Model):
    """Where conversations wait for an agent; its members are the agents who may take and see them."""

    class Mode(models.TextChoices):
        PUSH = "push", _("Push (assign at once)")
        OFFER = "offer", _("Offer with a timeout")

    name = models.CharField(_("name"), max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="queues", blank=True)
    # Fraud, HR…: for anyone but its members, the conversations' assignees and supervisors, the queue's conversations
    # are metadata only (date, channel, queue, status) and cannot be opened. See interactions/access.py.
    confidential = models.BooleanField(
        _("confidential"),
        default=False,
        help_text=_("Non-members see only the date, channel, queue and status of its conversations."),
    )
    channel_kinds = models.JSONField(
        _("channel kinds served"), default=list, blank=True, help_text=_('e.g. ["chat", "email"]; empty serves all.')
    )
    required_skills = models.ManyToManyField(
        Skill, related_name="required_by_queues", blank=True, verbose_name=_("required skills")
    )
    # Wanted at first; dropped when the item overflows without an overflow queue.
    optional_skills = models.ManyToManyField(
        Skill, related_name="optional_for_queues", blank=True, verbose_name=_("optional skills")
    )
    base_priority = models.SmallIntegerField(_("base priority"), default=0)
    aging_acceleration = models.FloatField(
        _("aging acceleration"), default=1.0, validators=[MinValueValidator(0.0)], help_text=_("Points per minute.")
    )
    mode = models.CharField(_("mode"), max_length=8, choices=Mode.choices, default=Mode.PUSH)
    offer_timeout_seconds = models.PositiveIntegerField(
        _("offer timeout (s)"), default=30, validators=[MinValueValidator(5), MaxValueValidator(3600)]
    )
    overflow_queue = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("overflow queue")
    )
    overflow_timeout_seconds = models.PositiveIntegerField(_("overflow after (s)"), null=True, blank=True)
    default_aht_seconds = models.PositiveIntegerField(_("default handle time (s)"), default=300)
    # Business hours: SLA clocks count only open time. `business_hours` maps weekday numbers ("0" = Monday … "6")
    # to lists of ["HH:MM", "HH:MM"] intervals in `timezone`; empty means open around the clock.
    timezone = models.CharField(_("time zone"), max_length=64, default="Europe/Paris")
    business_hours = models.JSONField(_("business hours"), default=dict, blank=True)
    holidays = models.JSONField(_("holidays"), default=list, blank=True, help_text=_('Dates, e.g. ["2026-12-25"].'))
    # SLA targets in business minutes; empty means no target of that kind.
    sla_first_response_minutes = models.PositiveIntegerField(_("first response target (min)"), null=True, blank=True)
    sla_next_response_minutes = models.PositiveIntegerField(_("next response target (min)"), null=True, blank=True)
    sla_resolution_minutes = models.PositiveIntegerField(_("resolution target (min)"), null=True, blank=True)
    # A warning goes out when this share of a target's time is used.
    sla_warning_percent = models.PositiveSmallIntegerField(_("warn at (% of target)"), default=80)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("queue")
        verbose_name_plural = _("queues")

    def __str__(self) -> str:
        return self.name


class AgentProfile(models.Model):
    class Presence(models.TextChoices):
        AVAILABLE = "available", _("Available")
        AWAY = "away", _("Away")
        OFFLINE = "offline", _("Offline")

    class Role(models.TextChoices):
        AGENT = "agent", _("Agent")
        SUPERVISOR = "supervisor", _("Supervisor")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.AGENT)
    presence = models.CharField(_("presence"), max_length=16, choices=Presence.choices, default=Presence.OFFLINE)
    # Whether routing offers this person work. Supervisors watch the floor and take work only when they choose to
    # (`services.set_takes_work`); agents take it by default.
    takes_work = models.BooleanField(_("takes routed work"), default=True)
    chat_capacity = models.PositiveSmallIntegerField(
        _("chat capacity"), default=3, validators=[MaxValueValidator(MAX_CAPACITY)]
    )
    voice_capacity = models.PositiveSmallIntegerField(
        _("voice capacity"), default=1, validators=[MaxValueValidator(MAX_CAPACITY)]
    )
    email_capacity = models.PositiveSmallIntegerField(
        _("email capacity"), default=5, validators=[MaxValueValidator(MAX_CAPACITY)]
    )
    # Capacity blending (routing/capacity.py): each item occupies its class's unit cost out of `capacity_units`.
    # Empty turns blending off (the per-class limits alone); existing profiles were migrated so, new ones blend.
    capacity_units = models.PositiveSmallIntegerField(
        _("capacity (units)"),
        null=True,
        blank=True,
        default=DEFAULT_CAPACITY_UNITS,
        validators=[MaxValueValidator(MAX_UNITS)],
        help_text=_("Total units of work at once; empty: only the per-channel limits apply."),
    )
    voice_units = models.PositiveSmallIntegerField(
        _("units per call"), default=DEFAULT_UNIT_COST["voice"], validators=[MaxValueValidator(MAX_UNITS)]
    )
    chat_units = models.PositiveSmallIntegerField(
        _("units per chat"), default=DEFAULT_UNIT_COST["chat"], validators=[MaxValueValidator(MAX_UNITS)]
    )
    email_units = models.PositiveSmallIntegerField(
        _("units per email"), default=DEFAULT_UNIT_COST["email"], validators=[MaxValueValidator(MAX_UNITS)]
    )
    # What the agent holds now, per class. Only changed under this row's lock (SELECT … FOR UPDATE), by the routing
    # services, so that the free-capacity test of the candidate query is exact; `refresh_load` recounts from the
    # assignments.
    chat_load = models.PositiveSmallIntegerField(_("chat load"), default=0)
    voice_load = models.PositiveSmallIntegerField(_("voice load"), default=0)
    email_load = models.PositiveSmallIntegerField(_("email load"), default=0)
    presence_changed_at = models.DateTimeField(auto_now_add=True)
    # Flapping guard: changes made by the agent in the current one-minute window.
    presence_window_started_at = models.DateTimeField(null=True, blank=True)
    presence_window_changes = models.PositiveSmallIntegerField(default=0)
    # Open desk sockets, and when the last one connected or left: no socket for 60 s means offline.
    socket_count = models.PositiveIntegerField(default=0)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # Ties between equally loaded agents go to whoever waited longest for work.
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("agent profile")
        verbose_name_plural = _("agent profiles")
        indexes = [models.Index(fields=["presence", "last_assigned_at"], name="agentprofile_available")]

    def __str__(self) -> str:
        return f"{self.user} ({self.presence})"

    @property
    def is_supervisor(self) -> bool:
        return self.role == self.Role.SUPERVISOR

    def capacity(self, capacity_class: str) -> int:
        return int(getattr(self, f"{capacity_class}_capacity"))

    def load(self, capacity_class: str) -> int:
        return int(getattr(self, f"{capacity_class}_load"))

    def unit_cost(self, capacity_class: str) -> int:
        return int(getattr(self, f"{capacity_class}_units"))

    @property
    def units_used(self) -> int:
        """The units the current load occupies (assignments and pending offers), blending or not."""
        return sum(self.load(c) * self.unit_cost(c) for c in CapacityClass.values)

    def has_room(self, capacity_class: str) -> bool:
        """One more item of the class fits its class limit and, when blending, the units (routing/capacity.py)."""
        if self.load(capacity_class) >= self.capacity(capacity_class):
            return False
        return self.capacity_units is None or self.units_used + self.unit_cost(capacity_class) <= self.capacity_units

    @property
    def full_classes(self) -> list[str]:
        """The classes (with some capacity) the agent is full in: those at their own limit, or all of them when the
        units leave room for nothing (a call). One chat, which only leaves no room for a call, is not "busy"."""
        classes = [c for c in CapacityClass.values if self.capacity(c) > 0]
        if self.capacity_units is not None and not any(self.has_room(c) for c in classes):
            return classes
        return [c for c in classes if self.load(c) >= self.capacity(c)]

    @property
    def is_busy(self) -> bool:
        """Available, but full in some class: shown as "busy" (for that class) on the desk and the queue view."""
        return self.presence == self.Presence.AVAILABLE and bool(self.full_classes)

    def full_class_labels(self) -> str:
        return ", ".join(str(CapacityClass(c).label) for c in self.full_classes)


class AgentSkill(models.Model):
    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="skills")
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="agents")
    proficiency = models.PositiveSmallIntegerField(
        _("proficiency"), default=3, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )

    class Meta:
        verbose_name = _("agent skill")
        verbose_name_plural = _("agent skills")
        constraints = [
            models.UniqueConstraint(fields=["agent", "skill"], name="agentskill_unique"),
            models.CheckConstraint(condition=models.Q(proficiency__gte=1, proficiency__lte=5), name="proficiency_1_5"),
        ]
        indexes = [models.Index(fields=["skill", "agent", "proficiency"], name="agentskill_lookup")]

    def __str__(self) -> str:
        return f"{self.agent.user} · {self.skill} ({self.proficiency})"


class Intent(models.Model):
    """A contact reason of the referential: how to recognize it and where and how it is best served."""

    class Solution(models.TextChoices):
        CHAT = "chat", _("Chat")
        CALLBACK = "callback", _("Callback")
        PHONE = "phone", _("Phone")
        EMAIL = "email", _("Email")
        SELF_SERVICE = "self_service", _("Self-service link")
        FORM = "form", _("Form")

    key = models.SlugField(_("key"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100)
    keywords = models.JSONField(_("keywords"), default=list, blank=True)
    examples = models.JSONField(_("examples"), default=list, blank=True)
    queue = models.ForeignKey(
        Queue, on_delete=models.SET_NULL, null=True, blank=True, related_name="intents", verbose_name=_("queue")
    )
    required_skills = models.ManyToManyField(Skill, blank=True, related_name="intents", verbose_name=_("skills"))
    priority_boost = models.SmallIntegerField(_("priority boost"), default=0)
    live_wait_threshold_seconds = models.PositiveIntegerField(
        _("live wait threshold (s)"),
        null=True,
        blank=True,
        help_text=_("Above this estimated wait, offer the other solutions instead of a live chat or call."),
    )
    # Per channel kind (chat, voice, email…), the solutions offered in order, e.g. {"chat": ["chat", "callback"]}.
    solutions = models.JSONField(_("solutions per channel"), default=dict, blank=True)
    self_service_url = models.URLField(_("self-service link"), blank=True)
    form_url = models.URLField(_("form link"), blank=True)
    is_default = models.BooleanField(_("default intent"), default=False)

    class Meta:
        verbose_name = _("intent")
        verbose_name_plural = _("intents")
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=models.Q(is_default=True), name="one_default")
        ]

    def __str__(self) -> str:
        return self.name


class ConversationIntent(models.Model):
    """The intent of a conversation: as detected on its first inbound text, or as an agent corrected it."""

    conversation = models.OneToOneField(
        "interactions.Conversation", on_delete=models.CASCADE, related_name="routing_intent"
    )
    intent = models.ForeignKey(Intent, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    detected_intent = models.ForeignKey(Intent, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    confidence = models.FloatField(_("confidence"), default=0.0)
    detected_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("conversation intent")
        verbose_name_plural = _("conversation intents")

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.intent_id} ({self.confidence:.2f})"


class IntentCorrection(models.Model):
    """An agent's correction of a conversation's intent: kept to train and audit detection."""

    conversation = models.ForeignKey("interactions.Conversation", on_delete=models.CASCADE, related_name="+")
    previous = models.ForeignKey(Intent, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    corrected = models.ForeignKey(Intent, on_delete=models.CASCADE, related_name="corrections")
    text = models.TextField(_("text"), blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("intent correction")
        verbose_name_plural = _("intent corrections")

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.previous_id} → {self.corrected_id}"


class RoutingItem(models.Model):
    """A conversation's place in routing: which queue, what it needs, how urgent, and why it still waits.

    `rank` orders a queue's waiting items by effective priority without computing it per row: effective priority is
    base + boost + minutes waited × acceleration, and for one queue at one instant that orders exactly like
    base + boost − acceleration × (queued_at in minutes since the epoch), which does not depend on the time of the
    query — so an index serves it.
    """

    class State(models.TextChoices):
        WAITING = "waiting", _("Waiting")
        OFFERED = "offered", _("Offered")
        ASSIGNED = "assigned", _("Assigned")
        CLOSED = "closed", _("Closed")

    conversation = models.OneToOneField(
        "interactions.Conversation", on_delete=models.CASCADE, related_name="routing_item"
    )
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="items")
    capacity_class = models.CharField(_("capacity class"), max_length=8, choices=CapacityClass.choices)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.WAITING)
    # Value tier + intent; the queue's base priority is added in `rank`.
    boost = models.SmallIntegerField(_("boost"), default=0)
    rank = models.FloatField(default=0.0)
    queued_at = models.DateTimeField(_("queued at"))
    required_skills = models.ManyToManyField(Skill, related_name="+", blank=True)
    optional_skills = models.ManyToManyField(Skill, related_name="+", blank=True)
    # The same ids, read by every decision without a query (the M2M rows serve the agent-driven EXISTS filter).
    required_skill_ids = models.JSONField(default=list, blank=True)
    optional_skill_ids = models.JSONField(default=list, blank=True)
    # Why it is not assigned yet ("no agent with skill X", "all capable agents are full"…).
    reason = models.CharField(_("waiting because"), max_length=255, blank=True)
    overflowed_at = models.DateTimeField(null=True, blank=True)
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("routing item")
        verbose_name_plural = _("routing items")
        indexes = [
            models.Index(
                "queue",
                models.F("rank").desc(),
                "queued_at",
                "id",
                name="routingitem_waiting_order",
                condition=models.Q(state="waiting"),
            ),
            models.Index(fields=["state", "queued_at"], name="routingitem_state"),
            # engine.explain_full_classes looks for waiting items without a reason on every decision while a class
            # is full: without it, a scan of the whole queue (~35 ms at 10,000 waiting). The id last lets that look
            # be an ordered index walk that stops at the first live entry (migration 0010).
            models.Index(
                fields=["queue", "capacity_class", "id"],
                name="routingitem_waiting_no_reason",
                condition=models.Q(state="waiting", reason=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id} in {self.queue_id} ({self.state})"

    def set_skills(self, *, required: set[int], optional: set[int]) -> None:
        """Replace the item's skills (both representations); the item must be saved."""
        self.required_skill_ids = sorted(required)
        self.optional_skill_ids = sorted(optional - required)
        self.save(update_fields=["required_skill_ids", "optional_skill_ids"])
        self.required_skills.set(self.required_skill_ids)
        self.optional_skills.set(self.optional_skill_ids)


class Assignment(models.Model):
    """Who held a conversation, from when to when: the history that proves nothing was assigned twice."""

    class Source(models.TextChoices):
        ROUTED = "routed", _("Routed")
        OFFER = "offer", _("Accepted offer")
        DIRECT = "direct", _("Direct")
        TRANSFER = "transfer", _("Transfer")

    conversation = models.ForeignKey("interactions.Conversation", on_delete=models.CASCADE, related_name="assignments")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    queue = models.ForeignKey(Queue, on_delete=models.SET_NULL, null=True, related_name="+")
    capacity_class = models.CharField(max_length=8, choices=CapacityClass.choices)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ROUTED)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        constraints = [
            # The database itself refuses a second live assignment of one conversation.
            models.UniqueConstraint(
                fields=["conversation"], condition=models.Q(ended_at__isnull=True), name="one_live_assignment"
            )
        ]
        indexes = [
            models.Index(fields=["agent", "capacity_class"], name="assignment_live", condition=models.Q(ended_at=None))
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id} → {self.agent_id} ({self.source})"


class Offer(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")
        EXPIRED = "expired", _("Expired")

    item = models.ForeignKey(RoutingItem, on_delete=models.CASCADE, related_name="offers")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="offers")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        constraints = [
            models.UniqueConstraint(fields=["item"], condition=models.Q(state="pending"), name="one_pending_offer")
        ]
        indexes = [models.Index(fields=["expires_at"], name="offer_pending", condition=models.Q(state="pending"))]

    def __str__(self) -> str:
        return f"{self.item_id} → {self.agent_id} ({self.state})"


class Transfer(models.Model):
    conversation = models.ForeignKey("interactions.Conversation", on_delete=models.CASCADE, related_name="transfers")
    from_agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    to_agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    from_queue = models.ForeignKey(Queue, on_delete=models.SET_NULL, null=True, related_name="+")
    to_queue = models.ForeignKey(Queue, on_delete=models.SET_NULL, null=True, related_name="+")
    note = models.TextField(_("note"), blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")

    def __str__(self) -> str:
        return f"{self.conversation_id} → {self.to_agent_id or self.to_queue_id}"
