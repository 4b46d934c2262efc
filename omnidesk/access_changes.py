"""When a user's access changes, their open desk sockets must hear it: the signal receivers, and the re-check.

Signals, not calls from our services, because access also changes where no service of ours runs: the admin edits
queue members through the m2m field (`Queue.members`, either side), deactivates users and changes profiles with
plain model saves, and Django itself logs users out and deletes sessions. Changes made with raw SQL or queryset
`update()` send no signal; the desk's periodic re-check (`OMNIDESK_DESK_RECHECK_SECONDS`) catches those.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.models import Session
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete

from interactions import access
from omnidesk import realtime
from routing.models import AgentProfile, Queue

# A profile or user save that only touches these fields changes no one's access (presence, logins).
ACCESS_FIELDS_OF_USER = frozenset({"is_active", "is_staff", "is_superuser"})
ACCESS_FIELDS_OF_PROFILE = frozenset({"role", "user", "user_id"})


def desk_groups(*, user_id: int, session_key: str | None) -> list[str] | None:
    """The realtime groups the user's desk may be in now; None when the user may no longer have a desk at all.

    None when the user is gone or inactive, or when the socket's session (if it came with one) no longer exists:
    a logged-out session must not keep receiving.
    """
    user = get_user_model().objects.filter(pk=user_id, is_active=True).select_related("agent_profile").first()
    if user is None:
        return None
    if session_key is not None and not Session.objects.filter(session_key=session_key).exists():
        return None
    return access.realtime_groups_for_agent(user)


def _membership_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    if reverse:
        # user.queues.add/remove/clear: the one user changed.
        if action in ("post_add", "post_remove", "post_clear"):
            realtime.announce_access_changed(user_ids=[instance.pk])
        return
    if action == "pre_clear":
        # After the clear there is no telling who the members were.
        instance._members_before_clear = list(instance.members.values_list("pk", flat=True))
    elif action == "post_clear":
        realtime.announce_access_changed(user_ids=getattr(instance, "_members_before_clear", []))
    elif action in ("post_add", "post_remove"):
        realtime.announce_access_changed(user_ids=pk_set or [])


def _user_saved(sender: Any, instance: Any, created: bool, update_fields: Any, **kwargs: Any) -> None:
    if created or (update_fields is not None and not ACCESS_FIELDS_OF_USER & set(update_fields)):
        return
    realtime.announce_access_changed(user_ids=[instance.pk])


def _user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    realtime.announce_access_changed(user_ids=[instance.pk])


def _profile_saved(sender: Any, instance: Any, created: bool, update_fields: Any, **kwargs: Any) -> None:
    if update_fields is not None and not ACCESS_FIELDS_OF_PROFILE & set(update_fields):
        return
    realtime.announce_access_changed(user_ids=[instance.user_id])


def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session: SessionBase | None = getattr(request, "session", None)
    if user is None:
        return
    realtime.announce_access_changed(user_ids=[user.pk], ended_session=session.session_key if session else None)


def _session_deleted(sender: Any, instance: Session, **kwargs: Any) -> None:
    user_id = instance.get_decoded().get("_auth_user_id")
    if user_id is None:
        return
    try:
        realtime.announce_access_changed(user_ids=[int(user_id)], ended_session=instance.session_key)
    except (TypeError, ValueError):
        return


def connect() -> None:
    """Connect the receivers (from `OmnideskConfig.ready`); idempotent thanks to the dispatch uids."""
    user_model = get_user_model()
    m2m_changed.connect(_membership_changed, sender=Queue.members.through, dispatch_uid="omnidesk.access.members")
    post_save.connect(_user_saved, sender=user_model, dispatch_uid="omnidesk.access.user")
    pre_delete.connect(_user_deleted, sender=user_model, dispatch_uid="omnidesk.access.user_deleted")
    post_save.connect(_profile_saved, sender=AgentProfile, dispatch_uid="omnidesk.access.profile")
    post_delete.connect(_profile_saved_deleted, sender=AgentProfile, dispatch_uid="omnidesk.access.profile_deleted")
    user_logged_out.connect(_logged_out, dispatch_uid="omnidesk.access.logout")
    post_delete.connect(_session_deleted, sender=Session, dispatch_uid="omnidesk.access.session")


def _profile_saved_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    realtime.announce_access_changed(user_ids=[instance.user_id])
