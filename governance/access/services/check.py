"""The check: may this caller read dataset D for purpose P now, which fields, under which
obligations? Facts are gathered with a fixed number of queries, the decision is the pure
function in governance/access/decision.py, and every answer — allow and deny — is written to
the ledger with the facts that decided it, in the same transaction. Any failure while
gathering facts, deciding, signing or recording is a 503, never an allow."""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from consent.models import Purpose
from consent.policy import purpose_current
from datasets.models import Dataset, Field
from governance.access import decision as rules
from governance.access import obligations, policy
from governance.access.models import Acknowledgement, Grant, PurposeApproval, TrainingAttestation
from governance.access.services.common import terms_for, terms_version
from governance.accounts.models import User
from governance.accounts.policy import MSG_OWNER_INACTIVE, may_use_data, principal_usable
from governance.accounts.principal import Principal
from governance.audit import services as audit
from governance.deadline import statement_timeouts
from governance.errors import Unavailable

logger = logging.getLogger(__name__)

MSG_UNAVAILABLE = (
    "The access check could not be completed; access is denied until it can. Retry later."
)


@dataclass(frozen=True)
class CheckResult:
    decision_id: str
    decision: rules.Decision
    dataset: str
    purpose: str
    principal: str
    consent_based: bool
    lease: str | None


def gather_facts(
    *,
    principal: User,
    dataset_slug: str,
    purpose_slug: str,
    fields: list[str] | None,
    now: datetime,
) -> tuple[rules.Facts, Dataset | None, Purpose | None]:
    dataset = Dataset.objects.filter(slug=dataset_slug).first()
    purpose = purpose_current(purpose_slug)
    refusal = principal_usable(principal)
    principal_active = refusal is None or refusal.message == MSG_OWNER_INACTIVE
    owner_active = refusal is None or refusal.message != MSG_OWNER_INACTIVE
    has_role = principal.is_service_account or may_use_data(principal) is None
    if dataset is None:
        return (
            rules.Facts(
                now=now,
                principal_active=principal_active,
                owner_active=owner_active,
                principal_has_role=has_role,
                dataset_found=False,
                purpose_found=purpose is not None,
            ),
            None,
            purpose,
        )

    field_rows = list(
        Field.objects.filter(dataset=dataset).values_list(
            "name", "treatment", "category__key", "special_category"
        )
    )
    grant_rows = list(
        Grant.objects.filter(dataset=dataset)
        .filter(policy.grants_usable_by(principal))
        .values("id", "purpose_slug", "status", "starts_at", "expires_at", "fields")
    )
    relevant = [g for g in grant_rows if g["purpose_slug"] == purpose_slug]
    acknowledger = Principal.of(user=principal).accountable
    acknowledged: set[int] = set()
    if relevant and purpose is not None:
        acknowledged = set(
            Acknowledgement.objects.filter(
                grant_id__in=[g["id"] for g in relevant],
                user=acknowledger,
                terms_version=terms_version(purpose),
                terms_sha256=terms_for(purpose, dataset)[2],
            ).values_list("grant_id", flat=True)
        )
    approval_found = (
        purpose is not None
        and PurposeApproval.objects.filter(
            dataset=dataset, purpose_slug=purpose_slug, revoked_at=None
        ).exists()
    )
    restricted = dataset.sensitivity == Dataset.Sensitivity.RESTRICTED
    training_expires_at = None
    if restricted and relevant:
        training_expires_at = (
            TrainingAttestation.objects.filter(
                user=acknowledger, completed_at__lte=now, expires_at__gt=now
            )
            .order_by("-expires_at")
            .values_list("expires_at", flat=True)
            .first()
        )
    facts = rules.Facts(
        now=now,
        principal_active=principal_active,
        owner_active=owner_active,
        principal_has_role=has_role,
        dataset_found=True,
        dataset_status=dataset.status,
        dataset_sensitivity=dataset.sensitivity,
        dataset_fields={name: treatment for name, treatment, _, _ in field_rows},
        dataset_categories=frozenset(key for _, _, key, _ in field_rows if key),
        dataset_has_special=any(special for _, _, _, special in field_rows),
        purpose_found=purpose is not None,
        purpose_status=purpose.status if purpose else None,
        purpose_categories=frozenset(purpose.data_categories or []) if purpose else frozenset(),
        purpose_has_art9_condition=bool(purpose and purpose.special_category_condition),
        purpose_consent_based=bool(purpose and purpose.is_consent_based),
        dataset_subject_id_field=dataset.subject_id_field,
        dataset_subject_namespace=dataset.subject_namespace,
        approval_found=approval_found,
        grants=tuple(
            rules.GrantFact(
                id=g["id"],
                status=g["status"],
                starts_at=g["starts_at"],
                expires_at=g["expires_at"],
                fields=tuple(g["fields"]),
                acknowledged=g["id"] in acknowledged,
            )
            for g in relevant
        ),
        any_grant_on_dataset=bool(grant_rows),
        requested_fields=tuple(fields) if fields is not None else None,
        training_required=restricted,
        training_expires_at=training_expires_at,
    )
    return facts, dataset, purpose


def _facts_for_ledger(facts: rules.Facts) -> dict:
    data = asdict(facts)
    data["dataset_categories"] = sorted(facts.dataset_categories)
    data["purpose_categories"] = sorted(facts.purpose_categories)
    return data


def check_access(
    *,
    principal: User,
    dataset_slug: str,
    purpose_slug: str,
    fields: list[str] | None = None,
    at: datetime | None = None,
) -> CheckResult:
    now = at or timezone.now()
    decision_id = uuid.uuid4().hex
    label = Principal.of(user=principal).label
    try:
        with transaction.atomic():
            statement_timeouts()
            facts, dataset, purpose = gather_facts(
                principal=principal,
                dataset_slug=dataset_slug,
                purpose_slug=purpose_slug,
                fields=fields,
                now=now,
            )
            decision = rules.decide(facts)
            consent_based = facts.purpose_consent_based
            named = {}
            if decision.allow:
                decision, named = obligations.complete(
                    decision, dataset=dataset, purpose=purpose, purpose_slug=purpose_slug
                )
            lease = None
            if decision.allow and int(decision.expires_at.timestamp()) <= int(now.timestamp()):
                # The grant ends within this second: a lease (whole seconds) could not outlive
                # the check, so the answer is the one a moment later would give.
                decision = rules.Decision(allow=False, reasons=(rules._reason("grant_expired"),))
            if decision.allow:
                from governance.access.leases import lease_issue

                lease = lease_issue(
                    decision_id=decision_id,
                    principal={"id": label, "username": principal.username},
                    dataset=dataset_slug,
                    purpose=purpose_slug,
                    fields=list(decision.fields),
                    obligations=decision.obligations,
                    expires_at=decision.expires_at,
                    issued_at=now,
                    audience=obligations.audience_of(dataset),
                )
            audit.record(
                action="access.check",
                target=dataset,
                actor=principal,
                object_repr=f"{dataset_slug} for {purpose_slug}",
                data={
                    "decision_id": decision_id,
                    "decision": decision.decision,
                    "dataset": dataset_slug,
                    "purpose": purpose_slug,
                    "principal": label,
                    "reasons": [r["code"] for r in decision.reasons],
                    "grant": decision.grant_id,
                    "fields": list(decision.fields),
                    "expires_at": decision.expires_at,
                    "facts": _facts_for_ledger(facts),
                    **named,
                },
            )
    except Exception:
        logger.exception("access check failed (decision %s)", decision_id)
        raise Unavailable(MSG_UNAVAILABLE, {"decision_id": decision_id}) from None
    return CheckResult(
        decision_id=decision_id,
        decision=decision,
        dataset=dataset_slug,
        purpose=purpose_slug,
        principal=label,
        consent_based=consent_based,
        lease=lease,
    )


def access_decide(
    *, principal: User, dataset_slug: str, purpose_slug: str, at: datetime | None = None
) -> tuple[rules.Decision, Dataset | None]:
    """The decision the check would give now, without a lease and without a ledger entry of
    its own: for services that act only on an allow (pseudonymization keys, budget claims)
    and record one event with the decision in it."""
    facts, dataset, _purpose = gather_facts(
        principal=principal,
        dataset_slug=dataset_slug,
        purpose_slug=purpose_slug,
        fields=None,
        now=at or timezone.now(),
    )
    return rules.decide(facts), dataset
