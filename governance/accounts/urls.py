from django.contrib.auth import views as auth_views
from django.urls import path

from governance.accounts import views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("two-factor/", views.second_factor_overview, name="second-factor"),
    path("two-factor/verify/", views.second_factor_verify, name="second-factor-verify"),
    path("two-factor/setup/", views.second_factor_setup, name="second-factor-setup"),
    path("service-accounts/", views.service_account_list, name="service-account-list"),
    path("service-accounts/new/", views.service_account_create, name="service-account-create"),
    path(
        "service-accounts/request/",
        views.service_account_request,
        name="service-account-request",
    ),
    path(
        "service-accounts/requests/<int:pk>/decline/",
        views.service_account_request_decline,
        name="service-account-request-decline",
    ),
    path(
        "service-accounts/<slug:name>/", views.service_account_detail, name="service-account-detail"
    ),
    path(
        "service-accounts/<slug:name>/revoke/",
        views.service_account_revoke,
        name="service-account-revoke",
    ),
    path(
        "service-accounts/<slug:name>/rotate/",
        views.service_account_rotate,
        name="service-account-rotate",
    ),
    path(
        "service-accounts/<slug:name>/transfer/",
        views.service_account_transfer,
        name="service-account-transfer",
    ),
]
