from django.apps import AppConfig


class AccessConfig(AppConfig):
    """Purpose approvals, access requests, grants, acknowledgements, training, the check API."""

    name = "governance.access"
    label = "access"
    verbose_name = "Access governance"
    default_auto_field = "django.db.models.BigAutoField"
    # Read by governance.accounts.policy.may_transfer_service_account (no upward import).
    service_account_owner_conflict = "governance.access.policy.owner_conflict"

    role_permissions = {
        "engineer": {"access.add_accessrequest", "access.view_grant"},
        "steward": {
            "access.add_accessrequest",
            "access.view_grant",
            "access.view_accessrequest",
            "access.view_purposeapproval",
        },
        "privacy_officer": {
            "access.view_grant",
            "access.view_accessrequest",
            "access.view_purposeapproval",
            "access.add_purposeapproval",
            "access.change_purposeapproval",
            "access.add_trainingattestation",
            "access.view_trainingattestation",
            "access.add_accessrequest",
        },
        "auditor": {
            "access.view_grant",
            "access.view_accessrequest",
            "access.view_purposeapproval",
            "access.view_trainingattestation",
            "access.view_acknowledgement",
            "access.view_requestcomment",
        },
    }
    portal_nav = [{"label": "Access", "url": "access:mine", "key": "access", "perm": []}]
    dashboard_panels = "governance.access.selectors.dashboard_panels"
    demo_seeder = "governance.access.demo.seed"
    dataset_page_links = "governance.access.selectors.dataset_links"
    # "Request access" on the catalog's rows and dataset pages (prefilled request form).
    dataset_actions = "governance.access.selectors.dataset_actions"
    service_account_section = (
        "access/_service_account_grants.html",
        "governance.access.selectors.service_account_grants",
    )

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from governance.access import models

        for model in (
            models.PurposeApproval,
            models.TrainingAttestation,
            models.AccessRequest,
            models.RequestComment,
            models.Grant,
            models.Acknowledgement,
        ):
            auditlog.register(model)
