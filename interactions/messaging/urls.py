from django.urls import URLPattern, URLResolver, path

from interactions.messaging import api, views

app_name = "messaging"

urlpatterns: list[URLPattern | URLResolver] = [
    path("hooks/twilio/<uuid:channel>/", views.twilio_webhook, name="twilio-webhook"),
    path("hooks/meta/<uuid:channel>/", views.meta_webhook, name="meta-webhook"),
    path("hooks/telegram/<uuid:channel>/", views.telegram_webhook, name="telegram-webhook"),
    path("hooks/api/<uuid:channel>/", api.ApiChannelWebhookApi.as_view(), name="api-webhook"),
    path("desk/conversations/<int:pk>/template/", views.send_template, name="send-template"),
    path("desk/messages/<int:pk>/retry/", views.retry_delivery, name="retry"),
]
