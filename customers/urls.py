from django.urls import URLPattern, path

from customers import views

app_name = "customers"

urlpatterns: list[URLPattern] = [
    path("search/", views.search, name="search"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/attributes/edit/", views.edit_attributes, name="edit-attributes"),
    path("<int:pk>/attributes/", views.update_attributes, name="update-attributes"),
    path("<int:pk>/export.json", views.export_json, name="export-json"),
    path("<int:pk>/erase/", views.erase, name="erase"),
    path("<int:pk>/merge/", views.merge, name="merge"),
    path("<int:pk>/duplicates/", views.duplicates, name="duplicates"),
    path("merge-records/<int:pk>/unmerge/", views.unmerge, name="unmerge"),
    path("import/", views.import_upload, name="import"),
    path("import/<int:pk>/", views.import_status, name="import-status"),
    path("export.csv", views.export_csv, name="export-csv"),
]
