from django.urls import path

from contact import api, views

app_name = "contact"

urlpatterns = [
    path("contact/<str:key>/", views.contact_page, name="page"),
    path("contact/<str:key>/api/start/", api.start, name="start"),
    path("contact/<str:key>/api/search/", api.search, name="search"),
    path("contact/<str:key>/api/intent/", api.choose_intent, name="intent"),
    path("contact/<str:key>/api/step/", api.step, name="step"),
    path("contact/<str:key>/api/chat/", api.chat, name="chat"),
    path("contact/<str:key>/api/callback/", api.callback, name="callback"),
    path("contact/<str:key>/api/email/", api.email_form, name="email"),
    path("desk/contact-setup/", views.setup, name="setup"),
    path("desk/contact-setup/<int:pk>/publish/", views.publish, name="publish"),
    path("desk/contact-report/<int:pk>/", views.report, name="report"),
]
