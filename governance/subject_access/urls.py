"""Portal URLs (namespace "subject_access", under /subject-access/) and API URLs (under
/api/v1/subject-access/)."""

from django.urls import path

from governance.subject_access import apis, views

app_name = "subject_access"

urlpatterns = [
    path("", views.requests, name="requests"),
    path("<int:pk>/", views.request_detail, name="request"),
    path("<int:pk>/produce", views.request_produce, name="produce"),
    path("<int:pk>/package", views.request_package, name="package"),
    path("<int:pk>/extend", views.request_extend, name="extend"),
    path("<int:pk>/reject", views.request_reject, name="reject"),
    path("<int:pk>/complete", views.request_complete, name="complete"),
]

api_urlpatterns = [
    path("requests", apis.RequestListApi.as_view(), name="request-list"),
    path("requests/create", apis.RequestCreateApi.as_view(), name="request-create"),
    path("requests/<int:pk>", apis.RequestDetailApi.as_view(), name="request"),
    path("requests/<int:pk>/produce", apis.RequestProduceApi.as_view(), name="request-produce"),
    path("requests/<int:pk>/package", apis.RequestPackageApi.as_view(), name="request-package"),
    path("requests/<int:pk>/extend", apis.RequestExtendApi.as_view(), name="request-extend"),
    path("requests/<int:pk>/reject", apis.RequestRejectApi.as_view(), name="request-reject"),
    path("requests/<int:pk>/complete", apis.RequestCompleteApi.as_view(), name="request-complete"),
]
