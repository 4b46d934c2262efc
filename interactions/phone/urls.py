from django.urls import URLPattern, URLResolver, path

from interactions.phone import api, views

app_name = "phone"

urlpatterns: list[URLPattern | URLResolver] = [
    # Provider webhooks: the channel's uuid names it; the signature (in headers) authenticates the request.
    path("hooks/cti/<uuid:channel>/", api.CtiWebhookApi.as_view(), name="cti-hook"),
    path("hooks/twilio-voice/<uuid:channel>/", api.TwilioVoiceWebhookApi.as_view(), name="twilio-voice-hook"),
    # REST API
    path("api/calls/agent-states/", api.AgentCallStatesApi.as_view(), name="api-agent-states"),
    path("api/calls/<int:pk>/wrap-up/", api.CallWrapUpApi.as_view(), name="api-wrap-up"),
    path("api/calls/<int:pk>/notes/", api.CallNotesApi.as_view(), name="api-notes"),
    path("api/calls/<int:pk>/link/", api.CallLinkApi.as_view(), name="api-case-link"),
    path("api/click-to-call/", api.ClickToCallApi.as_view(), name="api-click-to-call"),
    path("api/callbacks/", api.CallbackCreateApi.as_view(), name="api-callbacks"),
    path("api/callbacks/<int:pk>/outcome/", api.CallbackOutcomeApi.as_view(), name="api-callback-outcome"),
    # Desk (htmx)
    path("phone/calls/<int:pk>/", views.call_details, name="call"),
    path("phone/calls/<int:pk>/wrap-up/", views.wrap_up, name="wrap-up"),
    path("phone/calls/<int:pk>/link/", views.case_link, name="case-link"),
    path("phone/calls/<int:pk>/caller/", views.name_caller, name="name-caller"),
    path("phone/click-to-call/", views.click_to_call, name="click-to-call"),
    path("phone/callbacks/<int:pk>/outcome/", views.callback_outcome, name="callback-outcome"),
]
