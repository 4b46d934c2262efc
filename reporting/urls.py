from __future__ import annotations

from django.urls import path

from reporting import api, staffing_views, views

app_name = "reporting"

urlpatterns = [
    path("desk/reports/", views.reports, name="reports"),
    path("desk/reports/export.csv", views.export_csv, name="export_csv"),
    path("desk/reports/export.xlsx", views.export_xlsx, name="export_xlsx"),
    path("desk/reports/conversations/", views.drill_down, name="drill_down"),
    path("desk/reports/staffing/", staffing_views.staffing_page, name="staffing"),
    path("desk/wallboard/", views.wallboard_page, name="wallboard"),
    path("survey/<str:token>/", views.survey_answer, name="survey_answer"),
    path("api/reports/", api.ReportView.as_view(), name="api_reports"),
    path("api/reports/staffing/", api.StaffingView.as_view(), name="api_staffing"),
]
