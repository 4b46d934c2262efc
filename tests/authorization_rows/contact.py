"""The contact page (issue 13): public per site, its setup and report pages for supervisors only."""

from __future__ import annotations

import json
from typing import Any

from contact.models import ContactSite, IntentNode
from contact.scenarios import publish_scenario
from tests.authorization_roles import DESK_GET_ONLY, Row, desk_supervisors, everyone
from tests.vis_support import World


def site(w: World, s: Any) -> ContactSite:
    found, _new = ContactSite.objects.get_or_create(
        chat_channel=s.chat, defaults={"voice_channel": s.voice, "email_channel": s.email}
    )
    return found


def node(w: World, s: Any) -> IntentNode:
    contact_site = site(w, s)
    existing = IntentNode.objects.filter(site=contact_site, intent=w.intent).first()
    if existing is not None:
        return existing
    category = IntentNode.objects.create(site=contact_site, label_en="Help", label_fr="Aide")
    created = IntentNode.objects.create(
        site=contact_site, parent=category, intent=w.intent, label_en="Billing", label_fr="Facturation"
    )
    publish_scenario(node=created, solutions=[{"kind": "email"}])
    return created


def api(name: str) -> Row:
    # The write is an empty form post: never JSON, the same clear 400 for everyone (the page is public).
    return Row(lambda w, s: f"/contact/{site(w, s).key}/api/{name}/", everyone(405), everyone(400))


ROWS: dict[str, Row] = {
    "contact/<str:key>/": Row(lambda w, s: f"/contact/{site(w, s).key}/", everyone(200), everyone(405)),
    "contact/<str:key>/api/start/": api("start"),
    "contact/<str:key>/api/search/": api("search"),
    "contact/<str:key>/api/intent/": api("intent"),
    "contact/<str:key>/api/step/": api("step"),
    "contact/<str:key>/api/chat/": api("chat"),
    "contact/<str:key>/api/callback/": api("callback"),
    "contact/<str:key>/api/email/": api("email"),
    "desk/contact-setup/": Row(lambda w, s: "/desk/contact-setup/", desk_supervisors(200), DESK_GET_ONLY),
    "desk/contact-setup/<int:pk>/publish/": Row(
        lambda w, s: f"/desk/contact-setup/{node(w, s).pk}/publish/",
        DESK_GET_ONLY,
        desk_supervisors(302),
        data=lambda w, s: {"solutions": json.dumps([{"kind": "email"}]), "variant": "A"},
    ),
    "desk/contact-report/<int:pk>/": Row(
        lambda w, s: f"/desk/contact-report/{node(w, s).pk}/", desk_supervisors(200), DESK_GET_ONLY
    ),
}
