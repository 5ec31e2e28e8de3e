"""Portal URLs (urlpatterns, namespace "datasets") and API URLs (api_urlpatterns, mounted under
/api/v1/datasets/, namespace "datasets-api")."""

from django.urls import path

from datasets import apis, views

app_name = "datasets"

urlpatterns = [
    path("", views.dataset_list, name="list"),
    path("new/", views.dataset_create, name="create"),
    path("<slug:slug>/", views.dataset_detail, name="detail"),
    path("<slug:slug>/edit/", views.dataset_edit, name="edit"),
    path("<slug:slug>/stewards/", views.dataset_stewards, name="stewards"),
    path("<slug:slug>/fields/new/", views.field_create, name="field-create"),
    path("<slug:slug>/fields/<path:name>/edit/", views.field_edit, name="field-edit"),
    path("<slug:slug>/submit/", views.dataset_submit, name="submit"),
    path("<slug:slug>/transition/<str:action>/", views.dataset_transition, name="transition"),
    path("<slug:slug>/scans/new/", views.scan_create, name="scan-create"),
    path("<slug:slug>/scans/<int:scan_id>/", views.scan_detail, name="scan"),
    path("<slug:slug>/review/", views.review_queue, name="review"),
]

api_urlpatterns = [
    path("", apis.DatasetListApi.as_view(), name="list"),
    path("create", apis.DatasetCreateApi.as_view(), name="create"),
    path("categories", apis.CategoryListApi.as_view(), name="categories"),
    path("categories/create", apis.CategoryCreateApi.as_view(), name="category-create"),
    path(
        "suggestions/<int:suggestion_id>/accept",
        apis.SuggestionAcceptApi.as_view(),
        name="suggestion-accept",
    ),
    path(
        "suggestions/<int:suggestion_id>/edit",
        apis.SuggestionEditApi.as_view(),
        name="suggestion-edit",
    ),
    path(
        "suggestions/<int:suggestion_id>/reject",
        apis.SuggestionRejectApi.as_view(),
        name="suggestion-reject",
    ),
    path("<slug:slug>", apis.DatasetDetailApi.as_view(), name="detail"),
    path("<slug:slug>/update", apis.DatasetUpdateApi.as_view(), name="update"),
    path("<slug:slug>/stewards", apis.DatasetStewardsApi.as_view(), name="stewards"),
    path("<slug:slug>/submit", apis.DatasetSubmitApi.as_view(), name="submit"),
    path("<slug:slug>/approve", apis.DatasetApproveApi.as_view(), name="approve"),
    path("<slug:slug>/return", apis.DatasetReturnApi.as_view(), name="return"),
    path("<slug:slug>/reopen", apis.DatasetReopenApi.as_view(), name="reopen"),
    path("<slug:slug>/retire", apis.DatasetRetireApi.as_view(), name="retire"),
    path("<slug:slug>/fields/create", apis.FieldCreateApi.as_view(), name="field-create"),
    path(
        "<slug:slug>/fields/<path:name>/classify",
        apis.FieldClassifyApi.as_view(),
        name="field-classify",
    ),
    path("<slug:slug>/scans/create", apis.ScanCreateApi.as_view(), name="scan-create"),
    path("<slug:slug>/scans/<int:scan_id>", apis.ScanDetailApi.as_view(), name="scan-detail"),
    path("<slug:slug>/suggestions", apis.SuggestionListApi.as_view(), name="suggestions"),
    path(
        "<slug:slug>/suggestions/accept",
        apis.SuggestionsAcceptApi.as_view(),
        name="suggestions-accept",
    ),
]
