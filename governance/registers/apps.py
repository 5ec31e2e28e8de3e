from django.apps import AppConfig


class RegistersConfig(AppConfig):
    """The registers an auditor asks for: processors and recipients with their contracts,
    transfers and safeguards, DPIAs, legitimate-interest assessments, personal-data breaches,
    and per-purpose processing records (security measures, confirmed absences)."""

    name = "governance.registers"
    label = "registers"
    verbose_name = "Registers"
    default_auto_field = "django.db.models.BigAutoField"

    role_permissions = {
        "privacy_officer": {
            f"registers.{verb}_{model}"
            for verb in ("view", "add", "change")
            for model in (
                "recipient",
                "transfer",
                "dpia",
                "legitimateinterestassessment",
                "breach",
                "processingrecord",
            )
        },
        "auditor": {
            f"registers.view_{model}"
            for model in (
                "recipient",
                "transfer",
                "dpia",
                "legitimateinterestassessment",
                "breach",
                "processingrecord",
            )
        },
        # Stewards read the entries that concern their datasets (policy.visible_to).
        "steward": {"registers.view_dpia"},
    }
    portal_nav = [
        {
            "label": "Registers",
            "url": "registers:overview",
            "key": "registers",
            "perm": "registers.view_dpia",
        }
    ]
    dashboard_panels = "governance.registers.selectors.dashboard_panels"
    evidence_pack_files = "governance.registers.selectors.evidence_files"
    demo_seeder = "governance.registers.demo.seed"
