"""Records of Processing Activities (GDPR Art. 30(1)): one row per active purpose, stating only
what someone recorded. What nobody recorded reads "Not recorded", is listed in the row's
"Not recorded" column and becomes a warning of the export, never a default that reads as a
fact (docs/compliance-exports.md).

Sources: the purpose (controller, description, legal basis, Art. 9 condition, subjects,
categories, recipients, retention period); the catalog (the datasets approved for the purpose,
their classified categories by name, non-personal ones left out); retention (what a dataset's
policy really does: deletes or anonymises, after how long); the registers (recipients with
their contracts, transfers with their safeguard, DPIAs, legitimate-interest assessments, the
purpose's security measures and confirmed absences); settings (DPO contact, controller
fallback, measures that apply to all processing)."""

from __future__ import annotations

from datetime import date
from importlib.metadata import PackageNotFoundError, version

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from consent.models import Purpose
from consent.vocab import LegalBasis
from datasets.models import DataCategory, Dataset
from datasets.taxonomy import Role
from governance.access.models import PurposeApproval
from governance.registers.models import (
    Dpia,
    LegitimateInterestAssessment,
    ProcessingRecord,
    Recipient,
    Transfer,
)
from governance.retention.models import RetentionPolicy

NOT_RECORDED = "Not recorded"
FORMAT = "ropa/v2"

ROPA_COLUMNS = [
    ("controller", "Controller name"),
    ("controller_contact", "Controller contact"),
    ("dpo_contact", "DPO contact"),
    ("purpose", "Purpose of processing"),
    ("purpose_description", "Purpose description"),
    ("legal_basis", "Legal basis (Art. 6)"),
    ("art9_condition", "Art. 9 condition"),
    ("data_subject_categories", "Categories of data subjects"),
    ("data_categories", "Categories of personal data"),
    ("recipients", "Categories of recipients"),
    ("transfers", "Transfers to third countries"),
    ("retention", "Time limits for erasure"),
    ("security_measures", "Technical and organisational security measures"),
    ("lia", "Legitimate-interest assessment"),
    ("dpia", "DPIA"),
    ("purpose_slug", "Purpose id"),
    ("purpose_version", "Purpose version"),
    ("approved_datasets", "Datasets approved for the purpose"),
    ("not_recorded", "Not recorded"),
    ("generated_at", "Generated at"),
    ("registry_version", "Registry version"),
]
LABELS = dict(ROPA_COLUMNS)


def registry_version() -> str:
    try:
        return version("data-governance-registry")
    except PackageNotFoundError:  # pragma: no cover - a tree without package metadata
        return "unknown"


def _phrase(label: str) -> str:
    """A column label inside a sentence: "Transfers to …" → "transfers to …", "DPO" stays."""
    if len(label) > 1 and label[1].isupper():
        return label
    return label[0].lower() + label[1:]


def _date(value: date | None) -> str:
    return value.isoformat() if value else "no date"


class Context:
    """Everything the rows need, read once (a fixed number of queries for any number of
    purposes)."""

    def __init__(self) -> None:
        self.approvals: dict[str, list[Dataset]] = {}
        for approval in (
            PurposeApproval.objects.filter(revoked_at__isnull=True)
            .select_related("dataset")
            .order_by("dataset__slug")
        ):
            self.approvals.setdefault(approval.purpose_slug, []).append(approval.dataset)
        datasets = {d.pk: d for ds in self.approvals.values() for d in ds}
        self.fields: dict[int, list[tuple[str, str]]] = {}
        from datasets.models import Field

        for dataset_id, key, role, default_role in Field.objects.filter(
            dataset_id__in=list(datasets), category__isnull=False
        ).values_list("dataset_id", "category__key", "role", "category__default_role"):
            if Role.NON_PERSONAL in (role, default_role):
                continue
            self.fields.setdefault(dataset_id, []).append(key)
        self.categories = {
            c.key: c for c in DataCategory.objects.only("key", "name", "default_role")
        }
        self.policies = {
            p.dataset_id: p for p in RetentionPolicy.objects.filter(dataset_id__in=list(datasets))
        }
        self.records = {
            r.purpose_slug: r for r in ProcessingRecord.objects.select_related("updated_by")
        }
        self.recipients: dict[str, list[Recipient]] = {}
        for recipient in (
            Recipient.objects.filter(active=True)
            .select_related("parent")
            .prefetch_related("purposes")
            .order_by("id")
        ):
            for slug in recipient.purpose_slugs():
                self.recipients.setdefault(slug, []).append(recipient)
        today = timezone.now().date()
        self.transfers: dict[str, list[Transfer]] = {}
        for transfer in (
            Transfer.objects.filter(Q(ended_on__isnull=True) | Q(ended_on__gte=today))
            .select_related("recipient")
            .prefetch_related("purposes", "recipient__purposes")
            .order_by("country", "id")
        ):
            slugs = transfer.purpose_slugs() or transfer.recipient.purpose_slugs()
            for slug in slugs:
                self.transfers.setdefault(slug, []).append(transfer)
        self.dpias = list(Dpia.objects.prefetch_related("purposes", "datasets"))
        self.active = {p.slug: p for p in Purpose.objects.filter(status=Purpose.Status.ACTIVE)}
        self.lias: dict[str, list[LegitimateInterestAssessment]] = {}
        for lia in LegitimateInterestAssessment.objects.select_related("purpose").order_by(
            "assessed_on", "id"
        ):
            self.lias.setdefault(lia.purpose.slug, []).append(lia)

    def purpose_days(self, dataset: Dataset) -> list[int]:
        """Retention periods of the active purposes the dataset is approved for."""
        return [
            self.active[slug].retention_days
            for slug, datasets in self.approvals.items()
            if slug in self.active and any(d.pk == dataset.pk for d in datasets)
        ]


class Row:
    """One purpose's record; each column is a method ``col_<key>``."""

    def __init__(self, purpose: Purpose, context: Context, generated_at: str) -> None:
        self.purpose = purpose
        self.context = context
        self.datasets = context.approvals.get(purpose.slug, [])
        self.record = context.records.get(purpose.slug)
        self.notes: list[str] = []
        self.values = {key: getattr(self, f"col_{key}")() for key, _ in ROPA_COLUMNS[:-3]}
        missing = [LABELS[k] for k, v in self.values.items() if v == NOT_RECORDED]
        self.values["not_recorded"] = "; ".join(missing)
        self.values["generated_at"] = generated_at
        self.values["registry_version"] = registry_version()
        self.warnings = [f"{purpose.slug}: {_phrase(m)} not recorded" for m in missing] + [
            f"{purpose.slug}: {note}" for note in self.notes
        ]

    def col_controller(self) -> str:
        return (
            self.purpose.controller
            or getattr(settings, "GOVERNANCE_CONTROLLER", "")
            or NOT_RECORDED
        )

    def col_controller_contact(self) -> str:
        return self.purpose.controller_contact or NOT_RECORDED

    def col_dpo_contact(self) -> str:
        return getattr(settings, "GOVERNANCE_DPO_CONTACT", "") or NOT_RECORDED

    def col_purpose(self) -> str:
        return self.purpose.name

    def col_purpose_description(self) -> str:
        return self.purpose.description or NOT_RECORDED

    def col_legal_basis(self) -> str:
        return self.purpose.get_legal_basis_display()

    def col_art9_condition(self) -> str:
        if self.purpose.special_category_condition:
            return self.purpose.get_special_category_condition_display()
        return "Not applicable: no special categories processed"

    def col_data_subject_categories(self) -> str:
        return "; ".join(self.purpose.data_subject_categories or []) or NOT_RECORDED

    def col_data_categories(self) -> str:
        categories = self.context.categories
        keys = {
            key
            for key in self.purpose.data_categories or []
            if getattr(categories.get(key), "default_role", "") != Role.NON_PERSONAL
        }
        for dataset in self.datasets:
            keys |= set(self.context.fields.get(dataset.pk, []))
        named = [
            f"{categories[key].name} ({key})" if key in categories else key for key in sorted(keys)
        ]
        return "; ".join(named) or NOT_RECORDED

    def col_recipients(self) -> str:
        lines = list(self.purpose.recipients or [])
        for recipient in self.context.recipients.get(self.purpose.slug, []):
            contract = ""
            if recipient.contract_reference:
                contract = f", contract {recipient.contract_reference}"
                if recipient.contract_signed_on:
                    contract += f" signed {recipient.contract_signed_on.isoformat()}"
            elif recipient.role in (Recipient.Role.PROCESSOR, Recipient.Role.SUB_PROCESSOR):
                contract = ", no Art. 28 contract recorded"
                self.notes.append(f"{recipient.name} has no Art. 28 contract recorded")
            lines.append(
                f"{recipient.name} ({recipient.role_phrase}, {recipient.country}{contract})"
            )
        if lines:
            return "\n".join(lines)
        if self.record is not None and self.record.no_recipients:
            return f"None outside the controller (recorded by {self.record.updated_by.username})"
        return NOT_RECORDED

    def col_transfers(self) -> str:
        lines = []
        for transfer in self.context.transfers.get(self.purpose.slug, []):
            label = transfer.get_safeguard_display()
            line = (
                f"{transfer.country}: {transfer.recipient.name} "
                f"({transfer.recipient.get_role_display().lower()}) under "
                f"{label[0].lower()}{label[1:]}"
            )
            if transfer.safeguard_reference:
                line += f": {transfer.safeguard_reference}"
            lines.append(line)
        if lines:
            return "\n".join(lines)
        if self.record is not None and self.record.no_transfers:
            return f"None (recorded by {self.record.updated_by.username})"
        return NOT_RECORDED

    def col_retention(self) -> str:
        lines = [f"Purpose retention period: {self.purpose.retention_days} days."]
        lines += [self._dataset_retention(dataset) for dataset in self.datasets]
        return "\n".join(lines)

    def _dataset_retention(self, dataset: Dataset) -> str:
        """What the dataset's retention policy really does (planning's rule: the shortest of
        the policy's maximum age and the retention periods of the purposes it serves)."""
        policy = self.context.policies.get(dataset.pk)
        if policy is None or not policy.enabled:
            why = "no retention policy" if policy is None else "retention policy switched off"
            self.notes.append(f"retention not enforced by the registry on {dataset.slug}")
            return f"{dataset.slug}: not enforced by the registry ({why})."
        anonymise = policy.action == RetentionPolicy.Action.ANONYMIZE
        what = (
            "rows anonymised (direct identifiers emptied, rows kept)"
            if anonymise
            else ("rows deleted")
        )
        days = [d for d in (policy.max_age_days, *self.context.purpose_days(dataset)) if d]
        parts = []
        if days and dataset.event_time_field:
            grace = f" (+{policy.grace_days} days grace)" if policy.grace_days else ""
            parts.append(f"{what} {min(days)} days after their event time{grace}")
        elif days:
            parts.append(
                f"no deletion by age: the dataset names no event-time field ({min(days)} days "
                "would apply)"
            )
            self.notes.append(f"age limit not enforced on {dataset.slug} (no event-time field)")
        if policy.expires_on:
            verb = "anonymised" if anonymise else "deleted"
            parts.append(f"every row {verb} from {policy.expires_on.isoformat()}")
        return f"{dataset.slug}: " + ("; ".join(parts) or "no time limit set") + "."

    def col_security_measures(self) -> str:
        parts = []
        everywhere = getattr(settings, "GOVERNANCE_SECURITY_MEASURES", "")
        if everywhere:
            parts.append(f"All processing: {everywhere}")
        if self.record is not None and self.record.security_measures:
            parts.append(self.record.security_measures)
        for recipient in self.context.recipients.get(self.purpose.slug, []):
            if recipient.security_measures:
                parts.append(f"{recipient.name}: {recipient.security_measures}")
        return "\n".join(parts) or NOT_RECORDED

    def col_lia(self) -> str:
        if self.purpose.legal_basis != LegalBasis.LEGITIMATE_INTERESTS:
            return f"Not applicable (legal basis: {self.purpose.get_legal_basis_display()})"
        lias = self.context.lias.get(self.purpose.slug, [])
        return (
            "\n".join(
                f"{a.reference} ({a.outcome}, assessed {_date(a.assessed_on)}, review "
                f"{_date(a.review_on)})"
                for a in lias
            )
            or NOT_RECORDED
        )

    def col_dpia(self) -> str:
        dataset_ids = {d.pk for d in self.datasets}
        lines, registered = [], set()
        for dpia in self.context.dpias:
            linked = self.purpose.slug in dpia.purpose_slugs() or dataset_ids & {
                d.pk for d in dpia.datasets.all()
            }
            if not linked:
                continue
            registered.add(dpia.reference)
            lines.append(
                f"{dpia.reference} ({dpia.get_status_display().lower()}, residual risk "
                f"{dpia.get_residual_risk_display().lower()}, review {_date(dpia.review_on)})"
            )
            if dpia.review_overdue:
                self.notes.append(f"DPIA {dpia.reference} review overdue since {dpia.review_on}")
        reference = self.purpose.dpia_reference
        if reference and reference not in registered:
            lines.append(f"{reference} (named on the purpose; not in the DPIA register)")
        return "\n".join(lines) or "None recorded"

    def col_purpose_slug(self) -> str:
        return self.purpose.slug

    def col_purpose_version(self) -> str:
        return str(self.purpose.version)

    def col_approved_datasets(self) -> str:
        return "; ".join(d.slug for d in self.datasets) or "None"


def ropa_rows() -> tuple[list[dict[str, str]], list[str]]:
    """One row per active purpose, and the export's warnings."""
    context = Context()
    generated_at = timezone.now().isoformat()
    rows, warnings = [], []
    for purpose in Purpose.objects.filter(status=Purpose.Status.ACTIVE).order_by("slug"):
        row = Row(purpose, context, generated_at)
        rows.append(row.values)
        warnings += row.warnings
    return rows, warnings
