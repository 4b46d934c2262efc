from django.urls import URLPattern, URLResolver, path

from interactions.mail import views

app_name = "mail"

urlpatterns: list[URLPattern | URLResolver] = [
    path("hooks/email/mailgun/<uuid:channel_uuid>/", views.mailgun_inbound, name="mailgun-inbound"),
    # Mailgun posts the raw MIME (body-mime) only to route URLs ending in "mime".
    path("hooks/email/mailgun/<uuid:channel_uuid>/mime", views.mailgun_inbound, name="mailgun-inbound-mime"),
    path("desk/email/<int:pk>/body/", views.email_body, name="body"),
]
