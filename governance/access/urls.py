"""Portal URLs (namespace "access", under /access/) and API URLs (under /api/v1/access/)."""

from django.urls import path

from governance.access import alert_views, apis, budget_views, training_apis, views
from governance.access.leases import LeaseKeysApi

app_name = "access"

urlpatterns = [
    path("", views.mine, name="mine"),
    path("request/", views.request_create, name="request-create"),
    path("inbox/", views.inbox, name="inbox"),
    path("requests/<int:pk>/", views.request_detail, name="request"),
    path("grants/<int:pk>/acknowledge/", views.grant_acknowledge, name="grant-acknowledge"),
    path("grants/<int:pk>/revoke/", views.grant_revoke, name="grant-revoke"),
    path("grants/<int:pk>/renew/", views.grant_renew, name="grant-renew"),
    path("requests/", views.request_list, name="requests"),
    path("grants/", views.grant_list, name="grants"),
    path("datasets/<slug:slug>/", views.dataset_access, name="dataset"),
    path("purpose-approvals/", views.purpose_approvals, name="purpose-approvals"),
    path("training/", views.training, name="training"),
    path("alerts/", alert_views.alerts, name="alerts"),
    path("budgets/", budget_views.budgets, name="budgets"),
    path("budgets/<slug:slug>/", budget_views.budget_detail, name="budget"),
]

api_urlpatterns = [
    path("check", apis.CheckApi.as_view(), name="check"),
    path("keys", LeaseKeysApi.as_view(), name="keys"),
    path("pseudonym-keys", training_apis.PseudonymKeysApi.as_view(), name="pseudonym-keys"),
    path("requests", apis.RequestListApi.as_view(), name="requests"),
    path("requests/create", apis.RequestCreateApi.as_view(), name="request-create"),
    path("requests/<int:pk>", apis.RequestDetailApi.as_view(), name="request"),
    path("requests/<int:pk>/approve", apis.RequestApproveApi.as_view(), name="request-approve"),
    path("requests/<int:pk>/deny", apis.RequestDenyApi.as_view(), name="request-deny"),
    path("requests/<int:pk>/withdraw", apis.RequestWithdrawApi.as_view(), name="request-withdraw"),
    path("requests/<int:pk>/comment", apis.RequestCommentApi.as_view(), name="request-comment"),
    path("grants", apis.GrantListApi.as_view(), name="grants"),
    path("grants/create", apis.GrantCreateApi.as_view(), name="grant-create"),
    path("grants/<int:pk>/revoke", apis.GrantRevokeApi.as_view(), name="grant-revoke"),
    path(
        "grants/<int:pk>/acknowledge", apis.GrantAcknowledgeApi.as_view(), name="grant-acknowledge"
    ),
    path("purpose-approvals", apis.PurposeApprovalListApi.as_view(), name="purpose-approvals"),
    path(
        "purpose-approvals/create",
        apis.PurposeApprovalCreateApi.as_view(),
        name="purpose-approval-create",
    ),
    path(
        "purpose-approvals/<int:pk>/revoke",
        apis.PurposeApprovalRevokeApi.as_view(),
        name="purpose-approval-revoke",
    ),
    path("training/create", apis.TrainingCreateApi.as_view(), name="training-create"),
]

# Under /api/v1/budget/: the privacy-budget ledger.
budget_api_urlpatterns = [
    path("claims", training_apis.BudgetClaimCreateApi.as_view(), name="claims"),
    path("claims/<uuid:pk>", training_apis.BudgetClaimDetailApi.as_view(), name="claim"),
    path(
        "claims/<uuid:pk>/commit", training_apis.BudgetClaimCommitApi.as_view(), name="claim-commit"
    ),
    path(
        "claims/<uuid:pk>/release",
        training_apis.BudgetClaimReleaseApi.as_view(),
        name="claim-release",
    ),
    path("requirements", training_apis.BudgetRequirementSetApi.as_view(), name="requirements"),
    path("datasets/<slug:slug>", training_apis.BudgetDatasetApi.as_view(), name="dataset"),
]
