"""The access decision: a pure function from gathered facts to allow/deny.

No database, no clock, no settings: everything it needs is in ``Facts``, so it can be tested
exhaustively. It allows only when every required fact is present and good; a missing fact is
a deny (fail closed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Reason codes (stable API) and their messages.
REASONS = {
    "principal_inactive": "The caller's account is inactive or revoked.",
    "owner_inactive": "The service account's accountable owner is inactive or no longer holds "
    "a role that may run jobs.",
    "principal_no_role": "The caller holds no role that works with data (engineer, steward, "
    "privacy officer, administrator).",
    "field_unclassified": "Nobody classified this field yet, so no treatment is known: it is "
    "not released.",
    "no_grant": "You hold no grant for this dataset and purpose.",
    "purpose_unknown": "No purpose with this slug exists.",
    "dataset_not_approved": "The dataset is not approved in the catalog.",
    "purpose_inactive": "The purpose is not active.",
    "dataset_not_approved_for_purpose": "A privacy officer has not approved this dataset for "
    "this purpose.",
    "categories_not_permitted": "The dataset holds data categories the purpose does not permit.",
    "special_category_without_condition": "The dataset holds special-category data and the "
    "purpose names no Art. 9(2) condition.",
    "grant_revoked": "Your grant for this dataset and purpose was revoked.",
    "grant_expired": "Your grant for this dataset and purpose has expired.",
    "grant_not_started": "Your grant for this dataset and purpose has not started yet.",
    "field_unknown": "The dataset has no field named like this.",
    "field_not_granted": "Your grant does not include this field.",
    "acknowledgement_missing": "The purpose's terms have not been acknowledged for this grant.",
    "training_expired": "Privacy training is not current; it is required for restricted data.",
    "subject_mapping_missing": "The purpose rests on consent, and the catalog does not say "
    "which field holds the subject id and in which consent namespace: the consent filter "
    "cannot be applied, so nothing is released.",
}


@dataclass(frozen=True)
class GrantFact:
    id: int
    status: str  # active | revoked | expired
    starts_at: datetime
    expires_at: datetime
    fields: tuple[str, ...]
    acknowledged: bool


@dataclass(frozen=True)
class Facts:
    now: datetime
    principal_active: bool
    dataset_found: bool
    owner_active: bool = True  # a service account's accountable owner (people: always)
    principal_has_role: bool = True  # a person holds a role that works with data
    dataset_status: str | None = None
    dataset_sensitivity: str | None = None
    dataset_fields: dict[str, str] = field(default_factory=dict)  # name -> treatment
    dataset_categories: frozenset[str] = frozenset()
    dataset_has_special: bool = False
    purpose_found: bool = False
    purpose_status: str | None = None
    purpose_categories: frozenset[str] = frozenset()
    purpose_has_art9_condition: bool = False
    purpose_consent_based: bool = False
    dataset_subject_id_field: str = ""
    dataset_subject_namespace: str = ""
    approval_found: bool = False
    grants: tuple[GrantFact, ...] = ()  # every grant of the caller on this dataset+purpose
    any_grant_on_dataset: bool = False  # any grant of the caller on this dataset, any purpose
    requested_fields: tuple[str, ...] | None = None  # None: every granted field
    training_required: bool = False
    training_expires_at: datetime | None = None


@dataclass(frozen=True)
class Decision:
    allow: bool
    reasons: tuple[dict, ...]
    grant_id: int | None = None
    fields: tuple[str, ...] = ()
    expires_at: datetime | None = None
    obligations: dict = field(default_factory=dict)

    @property
    def decision(self) -> str:
        return "allow" if self.allow else "deny"


def _reason(code: str, **detail) -> dict:
    return {"code": code, "message": REASONS[code], **({"detail": detail} if detail else {})}


def _deny(*codes_with_detail) -> Decision:
    return Decision(allow=False, reasons=tuple(codes_with_detail))


def category_permitted(category: str, permitted) -> bool:
    """A purpose permitting ``user.contact`` permits ``user.contact.email`` too."""
    parts = category.split(".")
    return any(".".join(parts[:i]) in permitted for i in range(1, len(parts) + 1))


def decide(facts: Facts) -> Decision:
    if not facts.principal_active:
        return _deny(_reason("principal_inactive"))
    if not facts.owner_active:
        return _deny(_reason("owner_inactive"))
    if not facts.principal_has_role:
        return _deny(_reason("principal_no_role"))
    # Callers without any grant on the dataset learn nothing about it, not even whether it
    # exists (docs/adr/0006-check-api.md).
    if not facts.dataset_found or not facts.any_grant_on_dataset:
        return _deny(_reason("no_grant"))
    if not facts.purpose_found:
        return _deny(_reason("purpose_unknown"))

    reasons: list[dict] = []
    if facts.dataset_status != "approved":
        reasons.append(_reason("dataset_not_approved", status=facts.dataset_status))
    if facts.purpose_status != "active":
        reasons.append(_reason("purpose_inactive", status=facts.purpose_status))
    if not facts.approval_found:
        reasons.append(_reason("dataset_not_approved_for_purpose"))
    outside = sorted(
        c for c in facts.dataset_categories if not category_permitted(c, facts.purpose_categories)
    )
    if outside:
        reasons.append(_reason("categories_not_permitted", categories=outside))
    if facts.dataset_has_special and not facts.purpose_has_art9_condition:
        reasons.append(_reason("special_category_without_condition"))
    if facts.purpose_consent_based and not (
        facts.dataset_subject_id_field and facts.dataset_subject_namespace
    ):
        reasons.append(_reason("subject_mapping_missing"))

    usable = [
        g for g in facts.grants if g.status == "active" and g.starts_at <= facts.now < g.expires_at
    ]
    grant = max(usable, key=lambda g: (g.expires_at, g.id)) if usable else None
    if grant is None:
        if any(g.status == "revoked" for g in facts.grants):
            reasons.append(_reason("grant_revoked"))
        elif any(g.status == "expired" or g.expires_at <= facts.now for g in facts.grants):
            reasons.append(_reason("grant_expired"))
        elif any(g.starts_at > facts.now for g in facts.grants):
            reasons.append(_reason("grant_not_started"))
        else:
            reasons.append(_reason("no_grant"))
        return _deny(*reasons)

    fields = facts.requested_fields if facts.requested_fields is not None else grant.fields
    unknown = sorted(f for f in fields if f not in facts.dataset_fields)
    if unknown:
        reasons.append(_reason("field_unknown", fields=unknown))
    not_granted = sorted(f for f in fields if f in facts.dataset_fields and f not in grant.fields)
    if not_granted:
        reasons.append(_reason("field_not_granted", fields=not_granted))
    unclassified = sorted(f for f in fields if facts.dataset_fields.get(f) == "")
    if unclassified:
        reasons.append(_reason("field_unclassified", fields=unclassified))
    if not grant.acknowledged:
        reasons.append(_reason("acknowledgement_missing", grant=grant.id))
    expires_at = grant.expires_at
    if facts.training_required:
        if facts.training_expires_at is None or facts.training_expires_at <= facts.now:
            reasons.append(_reason("training_expired"))
        else:
            expires_at = min(expires_at, facts.training_expires_at)
    if reasons:
        return _deny(*reasons)

    allowed = tuple(dict.fromkeys(fields))  # keep order, drop duplicates
    obligations = {"fields": {name: facts.dataset_fields[name] for name in allowed}}
    return Decision(
        allow=True,
        reasons=(),
        grant_id=grant.id,
        fields=allowed,
        expires_at=expires_at,
        obligations=obligations,
    )
