"""Portal URLs (namespace "retention", under /retention/) and API URLs (under
/api/v1/retention/)."""

from django.urls import path

from governance.retention import apis, views

app_name = "retention"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("datasets/<slug:slug>/", views.dataset_retention, name="dataset"),
    path("datasets/<slug:slug>/preview", views.preview, name="preview"),
    path("datasets/<slug:slug>/run", views.run_start, name="run-start"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("holds/", views.holds, name="holds"),
    path("holds/<int:pk>/release", views.hold_release, name="hold-release"),
    path("erasure-requests/", views.requests, name="requests"),
    path("erasure-requests/<int:pk>/", views.request_detail, name="request"),
    path("erasure-requests/<int:pk>/extend", views.request_extend, name="request-extend"),
    path("erasure-requests/<int:pk>/reject", views.request_reject, name="request-reject"),
]

api_urlpatterns = [
    path("datasets/<slug:slug>/policy", apis.PolicyApi.as_view(), name="policy"),
    path("datasets/<slug:slug>/preview", apis.PreviewApi.as_view(), name="preview"),
    path("datasets/<slug:slug>/runs", apis.RunListApi.as_view(), name="runs"),
    path("runs/<int:pk>", apis.RunDetailApi.as_view(), name="run"),
    path("runs/<int:pk>/certificate", apis.CertificateApi.as_view(), name="certificate"),
    path("holds", apis.HoldListApi.as_view(), name="holds"),
    path("holds/<int:pk>/release", apis.HoldReleaseApi.as_view(), name="hold-release"),
    path("erasure-requests", apis.ErasureRequestListApi.as_view(), name="requests"),
    path("erasure-requests/<int:pk>", apis.ErasureRequestDetailApi.as_view(), name="request"),
    path(
        "erasure-requests/<int:pk>/extend",
        apis.ErasureRequestExtendApi.as_view(),
        name="request-extend",
    ),
    path(
        "erasure-requests/<int:pk>/reject",
        apis.ErasureRequestRejectApi.as_view(),
        name="request-reject",
    ),
]
