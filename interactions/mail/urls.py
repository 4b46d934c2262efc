from django.urls import URLPattern, URLResolver, path

from interactions.mail import views

app_name = "mail"

urlpatterns: list[URLPattern | URLResolver] = [
    path("hooks/email/mailgun/<uuid:channel_uuid>/", views.mailgun_inbound, name="mailgun-inbound"),
    path("desk/email/<int:pk>/body/", views.email_body, name="body"),
    path("desk/attachments/<int:pk>/", views.attachment_download, name="attachment"),
]
