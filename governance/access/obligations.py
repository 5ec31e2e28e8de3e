"""What an ``allow`` obliges a job to do beyond the per-field treatments of the pure decision:
the consent filter, with the snapshot that names the subject set (consent.services.snapshots),
and the privacy budget a dataset under differential privacy requires. Called by the check
(governance/access/services/check.py) inside its transaction, for allows only: a deny costs
nothing here, an allow one indexed lookup for the budget and, for consent-based purposes, the
snapshot (a reuse check of two index probes, or one insert).
"""

from __future__ import annotations

from django.db.models import Q

from consent.models import Purpose
from consent.services.snapshots import decision_snapshot, snapshot_summary
from datasets.models import Dataset
from governance.access import decision as rules
from governance.access.leases import lease_audience
from governance.access.models import BudgetRequirement

FILTER_ENDPOINT = "/api/v1/consent/filter"
EXPORT_ENDPOINT = "/api/v1/consent/export"
CLAIMS_ENDPOINT = "/api/v1/budget/claims"
KEYS_ENDPOINT = "/api/v1/access/pseudonym-keys"
COMPOSITION = "basic"  # sequential composition: the ε and δ of the claims on a block add up


def live_requirement(*, dataset: Dataset, purpose_slug: str) -> BudgetRequirement | None:
    """The privacy budget reading ``dataset`` for ``purpose_slug`` draws on, if any: the
    dataset's own (every purpose) or the one for this purpose."""
    return (
        BudgetRequirement.objects.filter(dataset=dataset, retired_at=None)
        .filter(Q(purpose_slug="") | Q(purpose_slug=purpose_slug))
        .first()
    )


def budget_obligation(requirement: BudgetRequirement) -> dict:
    return {
        "requirement": requirement.pk,
        "epsilon": float(requirement.epsilon),
        "delta": float(requirement.delta),
        "composition": COMPOSITION,
        "block_days": requirement.block_days,
        "blocks_start": requirement.starts_at.isoformat().replace("+00:00", "Z"),
        "claims_endpoint": CLAIMS_ENDPOINT,
    }


_UNREAD = object()


def complete(
    decision: rules.Decision,
    *,
    dataset: Dataset,
    purpose: Purpose,
    purpose_slug: str,
    requirement=_UNREAD,
) -> tuple[rules.Decision, dict]:
    """The allow with its consent filter and privacy budget obligations; and what the ledger
    entry of the decision should name (the snapshot, the budget requirement). ``requirement``:
    the ``live_requirement``, when the caller read it with its facts."""
    extra: dict = {}
    named: dict = {}
    if any(t == "pseudonymize" for t in decision.obligations.get("fields", {}).values()):
        extra["pseudonymize"] = {"key_endpoint": KEYS_ENDPOINT, "purpose": purpose_slug}
    if purpose.is_consent_based:
        snapshot = decision_snapshot(purpose=purpose, namespace=dataset.subject_namespace)
        extra["consent_filter"] = {
            "purpose": purpose_slug,
            "namespace": dataset.subject_namespace,
            "subject_id_field": dataset.subject_id_field,
            "snapshot": snapshot_summary(snapshot),
            "filter_endpoint": FILTER_ENDPOINT,
            "export_endpoint": f"{EXPORT_ENDPOINT}?snapshot={snapshot.pk}",
        }
        named["consent_snapshot"] = str(snapshot.pk)
    if requirement is _UNREAD:
        requirement = live_requirement(dataset=dataset, purpose_slug=purpose_slug)
    if requirement is not None:
        extra["privacy_budget"] = budget_obligation(requirement)
        if dataset.event_time_field:
            extra["privacy_budget"]["event_time_field"] = dataset.event_time_field
        named["budget_requirement"] = requirement.pk
    if not extra:
        return decision, named
    return (
        rules.Decision(
            allow=True,
            reasons=(),
            grant_id=decision.grant_id,
            fields=decision.fields,
            expires_at=decision.expires_at,
            obligations={**decision.obligations, **extra},
        ),
        named,
    )


def audience_of(dataset: Dataset) -> str:
    return lease_audience(storage_kind=dataset.storage_kind, connection=dataset.connection)
