"""Portal URLs (urlpatterns, namespace "consent") and API URLs (api_urlpatterns, mounted under
/api/v1/consent/, namespace "consent-api")."""

from django.urls import path

from consent import apis, views

app_name = "consent"

_version = "purposes/<slug:slug>/v<int:version>/"
_subject = "subjects/<str:namespace>/<str:subject_id>/"

urlpatterns: list = [
    path("", views.purpose_list, name="purpose-list"),
    path("purposes/new/", views.purpose_create, name="purpose-create"),
    path("purposes/<slug:slug>/", views.purpose_detail, name="purpose-detail"),
    path(_version, views.purpose_detail, name="purpose-version"),
    path(f"{_version}edit/", views.purpose_edit, name="purpose-edit"),
    path(f"{_version}submit/", views.purpose_submit, name="purpose-submit"),
    path(f"{_version}activate/", views.purpose_activate, name="purpose-activate"),
    path(f"{_version}return/", views.purpose_return, name="purpose-return"),
    path(f"{_version}retire/", views.purpose_retire, name="purpose-retire"),
    path(f"{_version}new-version/", views.purpose_new_version, name="purpose-new-version"),
    path(f"{_version}notices/new/", views.notice_create, name="notice-create"),
    path(f"{_version}stats/", views.purpose_stats, name="purpose-stats"),
    path("subjects/", views.subject_lookup, name="subject-lookup"),
    path(_subject, views.subject_detail, name="subject-detail"),
    path(
        f"{_subject}receipt/<slug:slug>/v<int:version>/",
        views.receipt_download,
        name="receipt-download",
    ),
    path(f"{_subject}withdraw/<slug:slug>/", views.subject_withdraw, name="subject-withdraw"),
]

api_urlpatterns: list = [
    path("events", apis.EventRecordApi.as_view(), name="event-record"),
    path("events/batch", apis.EventBatchApi.as_view(), name="event-batch"),
    path("filter", apis.ConsentFilterApi.as_view(), name="filter"),
    path("export", apis.ConsentExportApi.as_view(), name="export"),
    path("purposes", apis.PurposeListApi.as_view(), name="purpose-list"),
    path("purposes/<slug:slug>", apis.PurposeDetailApi.as_view(), name="purpose-detail"),
    path(
        "subjects/<str:namespace>/<str:subject_id>",
        apis.SubjectDetailApi.as_view(),
        name="subject-detail",
    ),
    path(
        "subjects/<str:namespace>/<str:subject_id>/receipts/<slug:slug>",
        apis.ReceiptApi.as_view(),
        name="receipt",
    ),
    path("snapshots/<uuid:snapshot_id>", apis.SnapshotDetailApi.as_view(), name="snapshot"),
]
