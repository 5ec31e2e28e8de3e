from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from oauth2_provider import views as oauth2_views

import consent.urls
import datasets.urls
import governance.access.urls
import governance.compliance.urls
import governance.registers.urls
import governance.retention.urls
import governance.subject_access.urls
from governance.accounts import views as account_views
from governance.accounts.apis import MeApi, ServiceAccountCreateApi, ServiceAccountListApi
from governance.accounts.token_views import AuditedTokenView, OwnClientIntrospectView
from governance.api.throttling import throttled_endpoint
from governance.health import favicon, healthz

api_v1 = [
    path("me", MeApi.as_view(), name="me"),
    path("service-accounts", ServiceAccountListApi.as_view(), name="service-account-list"),
    path(
        "service-accounts/create", ServiceAccountCreateApi.as_view(), name="service-account-create"
    ),
]

# Only the token endpoints of django-oauth-toolkit: applications are created as service
# accounts (portal or manage.py), never through DOT's own application views. A refused token
# request is a ledger event (auth.token_failed).
oauth2 = [
    path("token/", throttled_endpoint("token")(AuditedTokenView.as_view()), name="token"),
    path(
        "revoke_token/",
        throttled_endpoint("token")(oauth2_views.RevokeTokenView.as_view()),
        name="revoke-token",
    ),
    path(
        "introspect/",
        throttled_endpoint("token")(OwnClientIntrospectView.as_view()),
        name="introspect",
    ),
]

urlpatterns = [
    path("", account_views.dashboard, name="dashboard"),
    path("accounts/", include("governance.accounts.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("o/", include((oauth2, "oauth2_provider"), namespace="oauth2_provider")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("favicon.ico", favicon, name="favicon"),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/v1/datasets/", include((datasets.urls.api_urlpatterns, "datasets-api"))),
    path("api/v1/consent/", include((consent.urls.api_urlpatterns, "consent-api"))),
    path("datasets/", include("datasets.urls")),
    path("consent/", include("consent.urls")),
    path("api/v1/access/", include((governance.access.urls.api_urlpatterns, "access-api"))),
    path("access/", include("governance.access.urls")),
    path(
        "api/v1/budget/",
        include((governance.access.urls.budget_api_urlpatterns, "budget-api")),
    ),
    path(
        "api/v1/compliance/",
        include((governance.compliance.urls.api_urlpatterns, "compliance-api")),
    ),
    path("compliance/", include("governance.compliance.urls")),
    path(
        "api/v1/retention/",
        include((governance.retention.urls.api_urlpatterns, "retention-api")),
    ),
    path("retention/", include("governance.retention.urls")),
    path(
        "api/v1/registers/",
        include((governance.registers.urls.api_urlpatterns, "registers-api")),
    ),
    path("registers/", include("governance.registers.urls")),
    path(
        "api/v1/subject-access/",
        include((governance.subject_access.urls.api_urlpatterns, "subject-access-api")),
    ),
    path("subject-access/", include("governance.subject_access.urls")),
    path("audit/", include("governance.audit.urls")),
]

if settings.BENCH_ENDPOINTS:  # make bench only: the check API's floors (governance/api/floors.py)
    from governance.api import floors

    urlpatterns += floors.urlpatterns

handler400 = "governance.api.errors.handler400"
handler404 = "governance.api.errors.handler404"
handler403 = "governance.api.errors.handler403"
handler500 = "governance.api.errors.handler500"
