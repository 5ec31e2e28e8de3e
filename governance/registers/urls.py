"""Portal URLs (namespace "registers", under /registers/) and API URLs (under
/api/v1/registers/)."""

from django.urls import path

from governance.registers import apis, views

app_name = "registers"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("processing/", views.processing_list, name="processing"),
    path("processing/<slug:slug>/", views.processing_entry, name="processing-entry"),
    path("<slug:kind>/", views.register_list, name="list"),
    path("<slug:kind>/<int:pk>/", views.register_entry, name="entry"),
]

api_urlpatterns = [
    path("processing", apis.ProcessingRecordListApi.as_view(), name="processing"),
    path(
        "processing/<slug:slug>/set", apis.ProcessingRecordSetApi.as_view(), name="processing-set"
    ),
]
for _slug, _views in apis.VIEWS.items():
    api_urlpatterns += [
        path(f"{_slug}", _views["list"].as_view(), name=f"{_slug}-list"),
        path(f"{_slug}/create", _views["create"].as_view(), name=f"{_slug}-create"),
        path(f"{_slug}/<int:pk>", _views["detail"].as_view(), name=f"{_slug}-detail"),
        path(f"{_slug}/<int:pk>/update", _views["update"].as_view(), name=f"{_slug}-update"),
    ]
