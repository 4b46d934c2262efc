from django.urls import URLPattern, path

from customers import views

app_name = "customers"

urlpatterns: list[URLPattern] = [
    path("search/", views.search, name="search"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/attributes/edit/", views.edit_attributes, name="edit-attributes"),
    path("<int:pk>/attributes/", views.update_attributes, name="update-attributes"),
]
