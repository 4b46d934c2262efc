from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from assist import views as assist_views
from customers import api as customers_api
from interactions import api, case_api, case_views
from interactions import views as desk_views
from omnidesk.health import healthz
from routing import api as routing_api
from routing import views as routing_views

desk_patterns = (
    [
        path("", desk_views.home, name="home"),
        path("conversations/<int:pk>/", desk_views.conversation_detail, name="conversation"),
        path("conversations/<int:pk>/reply/", desk_views.reply, name="reply"),
        path("conversations/<int:pk>/resolve/", desk_views.resolve, name="resolve"),
        path("conversations/<int:pk>/status/", desk_views.set_status, name="status"),
        path("entries/<int:pk>/split/", case_views.split, name="split"),  # case: split a message off
        path("conversations/<int:pk>/merge/", case_views.merge, name="merge"),  # case: merge into `into`
        path("case-changes/<int:pk>/undo/", case_views.undo, name="case-change-undo"),  # case: undo either
        path("presence/", routing_views.presence, name="presence"),
        path("takes-work/", routing_views.takes_work, name="takes-work"),
        path("attachments/<int:pk>/", desk_views.attachment, name="attachment"),
        path("supervisor/", routing_views.supervisor, name="supervisor"),
        path("conversations/<int:pk>/transfer/", routing_views.transfer, name="transfer"),
        path("conversations/<int:pk>/intent/", routing_views.correct_intent, name="intent"),
        path("offers/<int:pk>/<str:decision>/", routing_views.decide_offer, name="offer"),
        path("conversations/<int:pk>/note/", assist_views.add_note, name="note"),
        path("mentions/<int:pk>/", assist_views.open_mention, name="mention"),
        path("conversations/<int:pk>/canned/", assist_views.canned_search, name="canned"),
        path("canned/", assist_views.canned_list, name="canned-list"),
        path("canned/<int:pk>/delete/", assist_views.canned_delete, name="canned-delete"),
        path("canned/export.csv", assist_views.canned_export, name="canned-export"),
        path("canned/import/", assist_views.canned_import, name="canned-import"),
        # agent (issue 15): next best action
        path("conversations/<int:pk>/next-actions/", assist_views.next_actions, name="next-actions"),
        path(
            "conversations/<int:pk>/next-actions/feedback/",
            assist_views.next_action_feedback,
            name="next-action-feedback",
        ),
        path(
            "conversations/<int:pk>/next-actions/callback/",
            assist_views.next_action_callback,
            name="next-action-callback",
        ),
    ],
    "desk",
)

api_patterns = (
    [
        path("conversations/", api.ConversationListApi.as_view(), name="conversations"),
        path("conversations/<int:pk>/", api.ConversationDetailApi.as_view(), name="conversation"),
        path("conversations/<int:pk>/reply/", api.ConversationReplyApi.as_view(), name="reply"),
        path("conversations/<int:pk>/resolve/", api.ConversationResolveApi.as_view(), name="resolve"),
        path("conversations/<int:pk>/status/", api.ConversationStatusApi.as_view(), name="status"),
        path("entries/<int:pk>/split/", case_api.SplitApi.as_view(), name="split"),  # case
        path("conversations/<int:pk>/merge/", case_api.MergeApi.as_view(), name="case-merge"),  # case
        path("case-changes/<int:pk>/undo/", case_api.UndoApi.as_view(), name="case-change-undo"),  # case
        path("customers/", customers_api.CustomerListApi.as_view(), name="customers"),
        path("customers/<int:pk>/", customers_api.CustomerDetailApi.as_view(), name="customer"),
        path("customers/<int:pk>/identities/", customers_api.CustomerIdentitiesApi.as_view(), name="identities"),
        path("customers/<int:pk>/timeline/", customers_api.CustomerTimelineApi.as_view(), name="timeline"),
        path("customers/<int:pk>/merge/", customers_api.CustomerMergeApi.as_view(), name="merge"),
        path("customers/<int:pk>/unmerge/", customers_api.CustomerUnmergeApi.as_view(), name="unmerge"),
        path("organizations/", customers_api.OrganizationListApi.as_view(), name="organizations"),
        path("organizations/<int:pk>/", customers_api.OrganizationDetailApi.as_view(), name="organization"),
        path("conversations/<int:pk>/transfer/", routing_api.ConversationTransferApi.as_view(), name="transfer"),
        path("conversations/<int:pk>/intent/", routing_api.ConversationIntentApi.as_view(), name="intent"),
        path("queues/", routing_api.QueueListApi.as_view(), name="queues"),
        path("queues/<int:pk>/ewt/", routing_api.QueueEwtApi.as_view(), name="queue-ewt"),
        path("skills/", routing_api.SkillListApi.as_view(), name="skills"),
        path("agents/", routing_api.AgentListApi.as_view(), name="agents"),
        path("agents/me/presence/", routing_api.MyPresenceApi.as_view(), name="my-presence"),
        path("agents/me/takes-work/", routing_api.MyTakesWorkApi.as_view(), name="my-takes-work"),
        path("agents/<int:pk>/capacity/", routing_api.AgentCapacityApi.as_view(), name="agent-capacity"),
        path("agents/<int:pk>/skills/", routing_api.AgentSkillsApi.as_view(), name="agent-skills"),
        path("intents/", routing_api.IntentListApi.as_view(), name="intents"),
        path("offers/<int:pk>/accept/", routing_api.OfferAcceptApi.as_view(), name="offer-accept"),
        path("offers/<int:pk>/decline/", routing_api.OfferDeclineApi.as_view(), name="offer-decline"),
        path("schema/", SpectacularAPIView.as_view(), name="schema"),
        # The split view serves Swagger UI's start-up script as a file: no inline script under the CSP. Both answer
        # signed-in users only (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]).
        path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    ],
    "api",
)

urlpatterns = [
    path("api/", include(api_patterns)),
    path("", lambda request: redirect("desk:home")),
    path("desk/", include(desk_patterns)),
    path("customers/", include("customers.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("widget/demo/", desk_views.widget_demo, name="widget-demo"),
    # agent (issue 15): a file sent to a website visitor, by its signed link
    path("widget/files/<str:token>/", assist_views.widget_file, name="widget-file"),
    path("healthz", healthz, name="healthz"),
    path("", include("contact.urls")),  # contact (issue 13): /contact/<site key>/ and /desk/contact-setup/
    # Channel areas own their full paths (webhooks under /hooks/<provider>/<channel uuid>/, their desk pages…).
    path("", include("interactions.mail.urls")),
    path("", include("interactions.messaging.urls")),
    path("", include("interactions.phone.urls")),
    path("", include("reporting.urls")),  # rep: reports, wallboard, survey answers, reports API
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
