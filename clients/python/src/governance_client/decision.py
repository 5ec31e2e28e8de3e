"""The check's answer, typed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from governance_client.errors import LeaseMismatch, ObligationError, UnexpectedAnswer

TREATMENTS = ("keep", "drop", "mask", "generalize", "pseudonymize")


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise UnexpectedAnswer(f"{value!r} is not a date and time") from None


def _members(data, names: tuple[str, ...], what: str, error=UnexpectedAnswer) -> dict:
    """``data`` as an object holding every one of ``names``; ``error`` naming what is missing."""
    if not isinstance(data, dict):
        raise error(f"{what} is not a JSON object")
    missing = [name for name in names if data.get(name) in (None, "")]
    if missing:
        raise error(f"{what} lacks {', '.join(missing)}")
    return data


@dataclass(frozen=True)
class ConsentSnapshot:
    id: str
    purpose_version: int | None
    as_of: datetime | None
    known_at: datetime | None
    count: int | None
    sha256: str | None

    @classmethod
    def from_json(cls, data: dict) -> ConsentSnapshot:
        _members(data, ("id",), "the consent_filter obligation's snapshot", ObligationError)
        return cls(
            id=data["id"],
            purpose_version=data.get("purpose_version"),
            as_of=_time(data.get("as_of")),
            known_at=_time(data.get("known_at")),
            count=data.get("count"),
            sha256=data.get("sha256"),
        )


@dataclass(frozen=True)
class ConsentFilter:
    purpose: str
    namespace: str
    subject_id_field: str
    snapshot: ConsentSnapshot
    filter_endpoint: str
    export_endpoint: str

    @classmethod
    def from_json(cls, data: dict) -> ConsentFilter:
        _members(
            data,
            ("purpose", "namespace", "subject_id_field", "snapshot", "filter_endpoint"),
            "the consent_filter obligation (it cannot be applied)",
            ObligationError,
        )
        return cls(
            purpose=data["purpose"],
            namespace=data["namespace"],
            subject_id_field=data["subject_id_field"],
            snapshot=ConsentSnapshot.from_json(data["snapshot"]),
            filter_endpoint=data["filter_endpoint"],
            export_endpoint=data.get("export_endpoint", ""),
        )


@dataclass(frozen=True)
class PrivacyBudget:
    requirement: int
    epsilon: float
    delta: float
    composition: str
    block_days: int | None
    blocks_start: datetime | None
    claims_endpoint: str
    event_time_field: str | None = None

    @classmethod
    def from_json(cls, data: dict) -> PrivacyBudget:
        _members(
            data,
            ("requirement", "epsilon", "composition", "claims_endpoint"),
            "the privacy_budget obligation (it cannot be applied)",
            ObligationError,
        )
        return cls(
            requirement=data["requirement"],
            epsilon=data["epsilon"],
            delta=data.get("delta") or 0.0,
            composition=data["composition"],
            block_days=data.get("block_days"),
            blocks_start=_time(data.get("blocks_start")),
            claims_endpoint=data["claims_endpoint"],
            event_time_field=data.get("event_time_field"),
        )


@dataclass(frozen=True)
class Decision:
    decision: str
    decision_id: str
    reasons: list[dict]
    principal: str
    dataset: str
    purpose: str
    grant: int | None
    fields: list[str]
    expires_at: datetime | None
    obligations: dict[str, Any] = field(default_factory=dict)
    lease: str | None = None
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict) -> Decision:
        what = "the check's answer"
        _members(data, ("decision", "decision_id", "dataset", "purpose"), what)
        if data["decision"] not in ("allow", "deny"):
            raise UnexpectedAnswer(f"{what} has decision {data['decision']!r}, not allow or deny")
        if not isinstance(data.get("obligations") or {}, dict):
            raise UnexpectedAnswer(f"{what} has obligations that are not a JSON object")
        if not isinstance(data.get("fields") or [], list):
            raise UnexpectedAnswer(f"{what} has fields that are not a list")
        if data["decision"] == "allow" and not isinstance(data.get("lease"), str):
            raise UnexpectedAnswer(f"{what} is an allow without a lease")
        return cls(
            decision=data["decision"],
            decision_id=data["decision_id"],
            reasons=list(data.get("reasons", [])),
            principal=data.get("principal", ""),
            dataset=data["dataset"],
            purpose=data["purpose"],
            grant=data.get("grant"),
            fields=list(data.get("fields", [])),
            expires_at=_time(data.get("expires_at")),
            obligations=dict(data.get("obligations") or {}),
            lease=data.get("lease"),
            raw=data,
        )

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"

    @property
    def treatments(self) -> dict[str, str]:
        return dict(self.obligations.get("fields", {}))

    @property
    def consent_filter(self) -> ConsentFilter | None:
        data = self.obligations.get("consent_filter")
        return ConsentFilter.from_json(data) if data else None

    @property
    def privacy_budget(self) -> PrivacyBudget | None:
        data = self.obligations.get("privacy_budget")
        return PrivacyBudget.from_json(data) if data else None


@dataclass(frozen=True)
class BudgetClaim:
    id: str
    dataset: str
    purpose: str
    epsilon: float
    delta: float
    blocks: list[int]
    status: str
    lock_expires_at: datetime | None
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict) -> BudgetClaim:
        _members(data, ("id", "dataset", "purpose", "epsilon", "status"), "the budget claim")
        return cls(
            id=data["id"],
            dataset=data["dataset"],
            purpose=data["purpose"],
            epsilon=data["epsilon"],
            delta=data.get("delta") or 0.0,
            blocks=list(data.get("blocks") or []),
            status=data["status"],
            lock_expires_at=_time(data.get("lock_expires_at")),
            raw=data,
        )


@dataclass(frozen=True)
class FilterResult:
    """The subjects kept by the consent filter, asked in batches at the decision's snapshot."""

    kept: list[str]
    asked: int
    snapshot: ConsentSnapshot
    namespace: str
    batch_snapshots: list[str]


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def lease_terms(claims: dict) -> dict:
    """What a verified lease's claims decide, in the check answer's words."""
    leased = claims.get("lease")
    if not isinstance(leased, dict):
        leased = {}
    return {
        "decision_id": claims.get("jti"),
        "principal": claims.get("sub"),
        "dataset": leased.get("dataset"),
        "purpose": leased.get("purpose"),
        "fields": leased.get("fields"),
        "obligations": leased.get("obligations"),
    }


def bound_to_lease(decision: Decision, claims: dict) -> Decision:
    """The decision exactly as its verified lease (``claims``) states it. LeaseMismatch when
    the unsigned answer says anything else: the fields, treatments, consent filter and
    privacy budget a job applies are the signed ones, never the body's."""
    terms = lease_terms(claims)
    answered = {
        "decision_id": decision.decision_id,
        "principal": decision.principal,
        "dataset": decision.dataset,
        "purpose": decision.purpose,
        "fields": decision.fields,
        "obligations": decision.obligations,
    }
    differs = [name for name in terms if _canonical(terms[name]) != _canonical(answered[name])]
    if differs:
        raise LeaseMismatch(differs)
    return replace(
        decision,
        fields=list(terms["fields"]),
        obligations=json.loads(_canonical(terms["obligations"])),
    )
