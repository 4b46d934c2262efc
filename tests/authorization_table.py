"""The authorization matrix's table: who gets which status on every URL pattern and websocket route.

One row per route pattern; `tests/test_vis_authorization_matrix.py` checks that the URLconf and the ASGI router have no
route without a row, then plays every row for every role.
"""

from __future__ import annotations

from typing import Any

from tests.authorization_roles import (
    API_WRONG_METHOD,
    DESK_GET_ONLY,
    DESK_POST_ONLY,
    LOGIN,
    NOAUTH,
    REFUSED,
    SAME,
    Expect,
    Row,
    S,
    api_act,
    api_agents,
    api_read,
    api_supervisors,
    desk_act,
    desk_agents,
    desk_read,
    desk_supervisors,
    everyone,
)
from tests.authorization_rows import gathered_rows
from tests.vis_support import World


def conv(w: World, s: Any) -> int:
    return int(s.conversation.pk)


TABLE: dict[str, Row] = {
    # --- REST API: conversations -------------------------------------------------------------------------------------
    "api/conversations/": Row(lambda w, s: "/api/conversations/", api_agents(200), API_WRONG_METHOD, api=True),
    "api/conversations/<int:pk>/": Row(
        lambda w, s: f"/api/conversations/{conv(w, s)}/", api_read(200), API_WRONG_METHOD, api=True
    ),
    "api/conversations/<int:pk>/reply/": Row(
        lambda w, s: f"/api/conversations/{conv(w, s)}/reply/",
        API_WRONG_METHOD,
        api_act(201),
        data=lambda w, s: {"text": "Nous regardons."},
        api=True,
    ),
    "api/conversations/<int:pk>/resolve/": Row(
        lambda w, s: f"/api/conversations/{conv(w, s)}/resolve/", API_WRONG_METHOD, api_act(200), api=True
    ),
    "api/conversations/<int:pk>/status/": Row(
        lambda w, s: f"/api/conversations/{conv(w, s)}/status/",
        API_WRONG_METHOD,
        api_act(200),
        data=lambda w, s: {"status": "pending"},
        api=True,
    ),
    "api/conversations/<int:pk>/transfer/": Row(
        lambda w, s: f"/api/conversations/{conv(w, s)}/transfer/",
        API_WRONG_METHOD,
        api_act(201),
        data=lambda w, s: {"queue": s.queue.pk, "note": "for the team"},
        api=True,
    ),
    "api/conversations/<int:pk>/intent/": Row(
        lambda w, s: f"/api/conversations/{conv(w, s)}/intent/",
        API_WRONG_METHOD,
        api_act(200),
        data=lambda w, s: {"intent": w.intent.key},
        api=True,
    ),
    # --- REST API: customers and organizations ---------------------------------------------------------------------
    "api/customers/": Row(
        lambda w, s: "/api/customers/",
        api_agents(200),
        api_agents(201),
        data=lambda w, s: {"display_name": "Nouvelle cliente"},
        api=True,
    ),
    "api/customers/<int:pk>/": Row(
        lambda w, s: f"/api/customers/{s.customer.pk}/",
        api_agents(200),
        api_agents(200),
        data=lambda w, s: {"language": "fr"},
        method="patch",
        api=True,
    ),
    "api/customers/<int:pk>/identities/": Row(
        lambda w, s: f"/api/customers/{s.customer.pk}/identities/",
        api_agents(200),
        api_agents(201),
        data=lambda w, s: {"kind": "email", "address": "new-address@example.com"},
        api=True,
    ),
    "api/customers/<int:pk>/timeline/": Row(
        lambda w, s: f"/api/customers/{s.customer.pk}/timeline/", api_agents(200), API_WRONG_METHOD, api=True
    ),
    "api/customers/<int:pk>/merge/": Row(
        lambda w, s: f"/api/customers/{s.customer.pk}/merge/",
        API_WRONG_METHOD,
        api_supervisors(200),
        data=lambda w, s: {"into": w.merge_record.target_id},
        api=True,
    ),
    "api/customers/<int:pk>/unmerge/": Row(
        lambda w, s: f"/api/customers/{w.merged_source.pk}/unmerge/", API_WRONG_METHOD, api_supervisors(200), api=True
    ),
    "api/organizations/": Row(
        lambda w, s: "/api/organizations/",
        api_agents(200),
        api_supervisors(201),
        data=lambda w, s: {"name": "Globex"},
        api=True,
    ),
    "api/organizations/<int:pk>/": Row(
        lambda w, s: f"/api/organizations/{w.organization.pk}/",
        api_agents(200),
        api_supervisors(200),
        data=lambda w, s: {"domain": "acme.example"},
        method="patch",
        api=True,
    ),
    # --- REST API: routing -----------------------------------------------------------------------------------------
    "api/queues/": Row(lambda w, s: "/api/queues/", api_agents(200), API_WRONG_METHOD, api=True),
    # A queue's live statistics are its members' (and supervisors'): others get 404, like for a queue that is not.
    "api/queues/<int:pk>/ewt/": Row(
        lambda w, s: f"/api/queues/{s.queue.pk}/ewt/",
        S(NOAUTH, 200, 404, 404, 200, 200, 404, NOAUTH),
        API_WRONG_METHOD,
        api=True,
    ),
    "api/skills/": Row(lambda w, s: "/api/skills/", api_agents(200), API_WRONG_METHOD, api=True),
    "api/agents/": Row(lambda w, s: "/api/agents/", api_supervisors(200), API_WRONG_METHOD, api=True),
    "api/agents/me/presence/": Row(
        lambda w, s: "/api/agents/me/presence/",
        API_WRONG_METHOD,
        api_agents(200),
        data=lambda w, s: {"presence": "away"},
        api=True,
    ),
    "api/agents/me/takes-work/": Row(
        lambda w, s: "/api/agents/me/takes-work/",
        API_WRONG_METHOD,
        api_supervisors(200),
        data=lambda w, s: {"takes_work": True},
        api=True,
    ),
    "api/agents/<int:pk>/capacity/": Row(
        lambda w, s: f"/api/agents/{s.agent.pk}/capacity/",
        API_WRONG_METHOD,
        api_supervisors(200),
        data=lambda w, s: {"chat": 2},
        api=True,
    ),
    "api/agents/<int:pk>/skills/": Row(
        lambda w, s: f"/api/agents/{s.agent.pk}/skills/",
        API_WRONG_METHOD,
        api_supervisors(200),
        data=lambda w, s: {"skills": {}},
        api=True,
    ),
    "api/intents/": Row(lambda w, s: "/api/intents/", api_agents(200), API_WRONG_METHOD, api=True),
    # An offer exists only for the agent it was made to (Alice's in Support, Fiona's in Fraud): 404 for anyone else.
    "api/offers/<int:pk>/accept/": Row(
        lambda w, s: f"/api/offers/{s.offer.pk}/accept/",
        API_WRONG_METHOD,
        S(NOAUTH, 200, 404, 404, 200, 404, 404, NOAUTH),
        api=True,
    ),
    "api/offers/<int:pk>/decline/": Row(
        lambda w, s: f"/api/offers/{s.offer.pk}/decline/",
        API_WRONG_METHOD,
        S(NOAUTH, 200, 404, 404, 200, 404, 404, NOAUTH),
        api=True,
    ),
    # The schema and its docs are for signed-in, active users only (issue 11: they were public).
    "api/schema/": Row(
        lambda w, s: "/api/schema/",
        S(403, 200, 200, 200, 200, 200, 200, 403),
        S(403, 405, 405, 405, 405, 405, 405, 403),
    ),
    "api/docs/": Row(
        lambda w, s: "/api/docs/", S(403, 200, 200, 200, 200, 200, 200, 403), S(403, 405, 405, 405, 405, 405, 405, 403)
    ),
    # --- REST API: phone ---------------------------------------------------------------------------------------------
    "api/calls/agent-states/": Row(
        lambda w, s: "/api/calls/agent-states/", api_supervisors(200), API_WRONG_METHOD, api=True
    ),
    # Call actions: the call's agent (Alice on Support's call, Fiona on Fraud's) and supervisors.
    "api/calls/<int:pk>/wrap-up/": Row(
        lambda w, s: f"/api/calls/{s.call.pk}/wrap-up/",
        API_WRONG_METHOD,
        api_act(200),
        data=lambda w, s: {"disposition": ""},
        api=True,
    ),
    "api/calls/<int:pk>/notes/": Row(
        lambda w, s: f"/api/calls/{s.call.pk}/notes/",
        API_WRONG_METHOD,
        api_act(200),
        data=lambda w, s: {"notes": "called back"},
        api=True,
    ),
    "api/calls/<int:pk>/link/": Row(
        lambda w, s: f"/api/calls/{s.call.pk}/link/",
        API_WRONG_METHOD,
        api_act(200),
        data=lambda w, s: {"confirm": True},
        api=True,
    ),
    # No phone channel here has a click-to-call endpoint: every agent is refused the same way (400), not by access.
    "api/click-to-call/": Row(
        lambda w, s: "/api/click-to-call/",
        API_WRONG_METHOD,
        api_agents(400),
        data=lambda w, s: {"customer": s.customer.pk},
        api=True,
    ),
    # A callback goes into a queue of the caller's: Oscar and Stan have no phone channel in theirs (400).
    "api/callbacks/": Row(
        lambda w, s: "/api/callbacks/",
        API_WRONG_METHOD,
        S(NOAUTH, 201, 400, 201, 201, 201, 400, NOAUTH),
        data=lambda w, s: {"number": "+33 1 23 45 67 89"},
        api=True,
    ),
    "api/callbacks/<int:pk>/outcome/": Row(
        lambda w, s: f"/api/callbacks/{s.callback.pk}/outcome/",
        API_WRONG_METHOD,
        api_act(200),
        data=lambda w, s: {"outcome": "reached"},
        api=True,
    ),
    # --- desk (htmx) -----------------------------------------------------------------------------------------------
    "": Row(lambda w, s: "/", everyone(302), everyone(302)),
    "desk/": Row(lambda w, s: "/desk/", desk_agents(200), DESK_GET_ONLY),
    "desk/conversations/<int:pk>/": Row(
        lambda w, s: f"/desk/conversations/{conv(w, s)}/", desk_read(200), DESK_GET_ONLY
    ),
    "desk/conversations/<int:pk>/reply/": Row(
        lambda w, s: f"/desk/conversations/{conv(w, s)}/reply/",
        DESK_POST_ONLY,
        desk_act(302),
        data=lambda w, s: {"text": "Nous regardons."},
    ),
    "desk/conversations/<int:pk>/resolve/": Row(
        lambda w, s: f"/desk/conversations/{conv(w, s)}/resolve/", DESK_POST_ONLY, desk_act(302)
    ),
    "desk/conversations/<int:pk>/status/": Row(
        lambda w, s: f"/desk/conversations/{conv(w, s)}/status/",
        DESK_POST_ONLY,
        desk_act(302),
        data=lambda w, s: {"status": "pending"},
    ),
    "desk/conversations/<int:pk>/transfer/": Row(
        lambda w, s: f"/desk/conversations/{conv(w, s)}/transfer/",
        DESK_POST_ONLY,
        desk_act(302),
        data=lambda w, s: {"target": f"queue:{s.queue.pk}", "note": "for the team"},
    ),
    "desk/conversations/<int:pk>/intent/": Row(
        lambda w, s: f"/desk/conversations/{conv(w, s)}/intent/",
        DESK_POST_ONLY,
        desk_act(302),
        data=lambda w, s: {"intent": w.intent.key},
    ),
    "desk/presence/": Row(
        lambda w, s: "/desk/presence/", DESK_POST_ONLY, desk_agents(302), data=lambda w, s: {"presence": "away"}
    ),
    "desk/takes-work/": Row(
        lambda w, s: "/desk/takes-work/", DESK_POST_ONLY, desk_supervisors(302), data=lambda w, s: {"takes_work": "on"}
    ),
    # A file of a message: whoever may open its conversation.
    "desk/attachments/<int:pk>/": Row(
        lambda w, s: f"/desk/attachments/{s.attachment.pk}/", desk_read(200), DESK_GET_ONLY
    ),
    # Notes are actions on the conversation; mentions and canned responses (issue 15).
    "desk/conversations/<int:pk>/note/": Row(
        lambda w, s: f"/desk/conversations/{conv(w, s)}/note/",
        DESK_POST_ONLY,
        desk_act(302),
        data=lambda w, s: {"text": "Note interne"},
    ),
    "desk/mentions/<int:pk>/": Row(
        lambda w, s: "/desk/mentions/999999/", S(LOGIN, 404, 404, 404, 404, 404, 404, LOGIN), DESK_GET_ONLY
    ),
    "desk/conversations/<int:pk>/canned/": Row(
        lambda w, s: f"/desk/conversations/{conv(w, s)}/canned/", desk_act(200), DESK_GET_ONLY
    ),
    "desk/canned/": Row(
        lambda w, s: "/desk/canned/",
        desk_agents(200),
        desk_agents(302),
        data=lambda w, s: {"shortcut": "merci", "title": "Merci", "body": "Merci {{customer.first_name|à vous}}"},
    ),
    "desk/canned/<int:pk>/delete/": Row(lambda w, s: "/desk/canned/999999/delete/", DESK_POST_ONLY, desk_agents(403)),
    "desk/canned/export.csv": Row(lambda w, s: "/desk/canned/export.csv", desk_agents(200), DESK_GET_ONLY),
    "desk/canned/import/": Row(lambda w, s: "/desk/canned/import/", DESK_POST_ONLY, desk_agents(422)),
    "desk/supervisor/": Row(lambda w, s: "/desk/supervisor/", desk_supervisors(200), DESK_GET_ONLY),
    "desk/offers/<int:pk>/<str:decision>/": Row(
        lambda w, s: f"/desk/offers/{s.offer.pk}/accept/", DESK_POST_ONLY, S(LOGIN, 302, 404, 404, 302, 404, 404, LOGIN)
    ),
    "desk/email/<int:pk>/body/": Row(
        lambda w, s: f"/desk/email/{s.email_message.pk}/body/", desk_read(200), DESK_GET_ONLY
    ),
    # Messaging's desk actions are actions on the conversation: refused to readers.
    "desk/conversations/<int:pk>/template/": Row(
        lambda w, s: f"/desk/conversations/{conv(w, s)}/template/",
        DESK_POST_ONLY,
        desk_act(422),
        data=lambda w, s: {"template": "none"},
    ),
    "desk/messages/<int:pk>/retry/": Row(
        lambda w, s: f"/desk/messages/{s.message.pk}/retry/",
        DESK_POST_ONLY,
        desk_act(409),  # an inbound message is nothing to retry: 409 for those who may act
    ),
    # --- phone desk --------------------------------------------------------------------------------------------------
    # Reading a call's block: who may open its conversation (a non-htmx GET goes back to the conversation: 302).
    "phone/calls/<int:pk>/": Row(lambda w, s: f"/phone/calls/{s.call.pk}/", desk_read(302), DESK_GET_ONLY),
    "phone/calls/<int:pk>/wrap-up/": Row(
        lambda w, s: f"/phone/calls/{s.call.pk}/wrap-up/",
        DESK_POST_ONLY,
        desk_act(302),
        data=lambda w, s: {"disposition": ""},
    ),
    "phone/calls/<int:pk>/link/": Row(
        lambda w, s: f"/phone/calls/{s.call.pk}/link/",
        DESK_POST_ONLY,
        desk_act(302),
        data=lambda w, s: {"decision": "confirm"},
    ),
    "phone/calls/<int:pk>/caller/": Row(
        lambda w, s: f"/phone/calls/{s.call.pk}/caller/",
        DESK_POST_ONLY,
        desk_act(200),
        data=lambda w, s: {"name": "Jeanne Martin"},
    ),
    "phone/click-to-call/": Row(
        lambda w, s: "/phone/click-to-call/",
        DESK_POST_ONLY,
        desk_agents(422),
        data=lambda w, s: {"customer": s.customer.pk},
    ),
    "phone/callbacks/<int:pk>/outcome/": Row(
        lambda w, s: f"/phone/callbacks/{s.callback.pk}/outcome/",
        DESK_POST_ONLY,
        desk_act(302),
        data=lambda w, s: {"outcome": "reached"},
    ),
    # --- customers (360°, search, supervisors' data actions) ---------------------------------------------------------
    "customers/search/": Row(lambda w, s: "/customers/search/?q=carte", desk_agents(200), DESK_GET_ONLY),
    "customers/<int:pk>/": Row(lambda w, s: f"/customers/{s.customer.pk}/", desk_agents(200), DESK_GET_ONLY),
    "customers/<int:pk>/attributes/edit/": Row(
        lambda w, s: f"/customers/{s.customer.pk}/attributes/edit/", desk_agents(200), DESK_GET_ONLY
    ),
    "customers/<int:pk>/attributes/": Row(
        lambda w, s: f"/customers/{s.customer.pk}/attributes/",
        DESK_POST_ONLY,
        desk_agents(302),
        data=lambda w, s: {"key": "plan", "value": "gold"},
    ),
    "customers/<int:pk>/export.json": Row(
        lambda w, s: f"/customers/{s.customer.pk}/export.json", desk_supervisors(200), DESK_GET_ONLY
    ),
    # Without the confirmation box the supervisor is asked again (422); nobody else gets that far.
    "customers/<int:pk>/erase/": Row(
        lambda w, s: f"/customers/{s.customer.pk}/erase/", DESK_POST_ONLY, desk_supervisors(422)
    ),
    "customers/<int:pk>/merge/": Row(
        lambda w, s: f"/customers/{s.customer.pk}/merge/",
        DESK_POST_ONLY,
        desk_supervisors(302),
        data=lambda w, s: {"target": w.merge_record.target_id},
    ),
    "customers/<int:pk>/duplicates/": Row(
        lambda w, s: f"/customers/{s.customer.pk}/duplicates/", desk_supervisors(200), DESK_GET_ONLY
    ),
    "customers/merge-records/<int:pk>/unmerge/": Row(
        lambda w, s: f"/customers/merge-records/{w.merge_record.pk}/unmerge/", DESK_POST_ONLY, desk_supervisors(302)
    ),
    "customers/import/": Row(lambda w, s: "/customers/import/", desk_supervisors(200), desk_supervisors(422)),
    "customers/import/<int:pk>/": Row(
        lambda w, s: f"/customers/import/{w.customer_import.pk}/", desk_supervisors(200), DESK_GET_ONLY
    ),
    "customers/export.csv": Row(lambda w, s: "/customers/export.csv", desk_supervisors(200), DESK_GET_ONLY),
    # --- accounts, public pages ---------------------------------------------------------------------------------------
    "accounts/login/": Row(
        lambda w, s: "/accounts/login/", everyone(200), everyone(200), data=lambda w, s: {"username": "x"}
    ),
    "accounts/logout/": Row(lambda w, s: "/accounts/logout/", everyone(405), everyone(302)),
    "widget/demo/": Row(lambda w, s: "/widget/demo/", everyone(200), everyone(405)),
    # Health is public and the same for everyone (no worker runs here, so it answers "unhealthy" to all alike).
    "healthz": Row(lambda w, s: "/healthz", everyone(SAME), everyone(SAME)),
    "i18n/setlang/": Row(
        lambda w, s: "/i18n/setlang/", everyone(302), everyone(302), data=lambda w, s: {"language": "fr", "next": "/"}
    ),
    # --- the admin: staff only (Stan may log in to it, which is all is_staff means); the rest go to its login -----
    "admin/": Row(
        lambda w, s: "/admin/", S(302, 302, 302, 302, 302, 200, 200, 302), S(302, 302, 302, 302, 302, 200, 200, 302)
    ),
    # --- provider webhooks: their own signature check, never 2xx without a valid one ---------------------------------
    "hooks/cti/<uuid:channel>/": Row(lambda w, s: f"/hooks/cti/{s.voice.uuid}/", everyone(REFUSED), everyone(REFUSED)),
    "hooks/twilio-voice/<uuid:channel>/": Row(
        lambda w, s: f"/hooks/twilio-voice/{s.voice.uuid}/", everyone(REFUSED), everyone(REFUSED)
    ),
    "hooks/email/mailgun/<uuid:channel_uuid>/": Row(
        lambda w, s: f"/hooks/email/mailgun/{s.email.uuid}/", everyone(REFUSED), everyone(REFUSED)
    ),
    "hooks/email/mailgun/<uuid:channel_uuid>/mime": Row(
        lambda w, s: f"/hooks/email/mailgun/{s.email.uuid}/mime", everyone(REFUSED), everyone(REFUSED)
    ),
    "hooks/twilio/<uuid:channel>/": Row(
        lambda w, s: f"/hooks/twilio/{s.chat.uuid}/", everyone(REFUSED), everyone(REFUSED)
    ),
    "hooks/meta/<uuid:channel>/": Row(lambda w, s: f"/hooks/meta/{s.chat.uuid}/", everyone(REFUSED), everyone(REFUSED)),
    "hooks/telegram/<uuid:channel>/": Row(
        lambda w, s: f"/hooks/telegram/{s.chat.uuid}/", everyone(REFUSED), everyone(REFUSED)
    ),
    "hooks/api/<uuid:channel>/": Row(lambda w, s: f"/hooks/api/{s.chat.uuid}/", everyone(REFUSED), everyone(REFUSED)),
}

_MORE = gathered_rows()
assert not (_MORE.keys() & TABLE.keys()), "a route has a row in the table and in tests/authorization_rows/"
TABLE.update(_MORE)

# Websocket routes of omnidesk/asgi.py: what a connection gets, per role. The desk needs a logged-in, active user
# (anonymous and deactivated: closed with 4401); the widget is public (each channel checks its origins at hello).
ACCEPTED = 0
WS_TABLE: dict[str, Expect] = {
    "ws/desk/": S(4401, ACCEPTED, ACCEPTED, ACCEPTED, ACCEPTED, ACCEPTED, ACCEPTED, 4401),
    "ws/widget/": everyone(ACCEPTED),
}
