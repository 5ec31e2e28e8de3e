"""Portal URLs (namespace "compliance", under /compliance/) and API URLs (under
/api/v1/compliance/)."""

from django.urls import path

from governance.compliance import apis, views

app_name = "compliance"

urlpatterns = [
    path("exports/", views.export_list, name="exports"),
    path("exports/<int:pk>/", views.export_detail, name="export"),
    path("exports/<int:pk>/download", views.export_download, name="export-download"),
]

api_urlpatterns = [
    path("exports/create", apis.ExportCreateApi.as_view(), name="export-create"),
    path("exports/<int:pk>", apis.ExportDetailApi.as_view(), name="export"),
    path("exports/<int:pk>/download", apis.ExportDownloadApi.as_view(), name="export-download"),
]
