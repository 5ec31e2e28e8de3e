from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from oauth2_provider import views as oauth2_views

import consent.urls
import datasets.urls
import governance.access.urls
import governance.compliance.urls
import governance.retention.urls
from governance.accounts import views as account_views
from governance.accounts.apis import MeApi, ServiceAccountCreateApi, ServiceAccountListApi
from governance.health import healthz

api_v1 = [
    path("me", MeApi.as_view(), name="me"),
    path("service-accounts", ServiceAccountListApi.as_view(), name="service-account-list"),
    path(
        "service-accounts/create", ServiceAccountCreateApi.as_view(), name="service-account-create"
    ),
]

# Only the token endpoints of django-oauth-toolkit: applications are created as service
# accounts (portal or manage.py), never through DOT's own application views.
oauth2 = [
    path("token/", oauth2_views.TokenView.as_view(), name="token"),
    path("revoke_token/", oauth2_views.RevokeTokenView.as_view(), name="revoke-token"),
    path("introspect/", oauth2_views.IntrospectTokenView.as_view(), name="introspect"),
]

urlpatterns = [
    path("", account_views.dashboard, name="dashboard"),
    path("accounts/", include("governance.accounts.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("o/", include((oauth2, "oauth2_provider"), namespace="oauth2_provider")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
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
    path("audit/", include("governance.audit.urls")),
]

handler400 = "governance.api.errors.handler400"
handler404 = "governance.api.errors.handler404"
handler403 = "governance.api.errors.handler403"
handler500 = "governance.api.errors.handler500"
