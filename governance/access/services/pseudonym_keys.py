"""Handing a purpose's pseudonymization secret to a job that may read a dataset for it."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from governance.access import pseudonyms
from governance.access.services.check import access_decide
from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.audit import services as audit
from governance.errors import NotPermitted

MSG_KEY_NOT_ALLOWED = (
    "Pseudonymization keys go only to callers the access check allows for this dataset and "
    "purpose now; see details.reasons."
)


@dataclass(frozen=True)
class KeyIssue:
    purpose: str
    dataset: str
    keys: list[pseudonyms.IssuedKey]


@audit.records_refusal("access.pseudonym_key_refused", actor="actor")
@transaction.atomic(durable=True)
def pseudonym_keys_issue(*, actor: User, dataset_slug: str, purpose_slug: str) -> KeyIssue:
    """The purpose's current secret (and the previous ones within their grace period), to a
    caller with an allow for ``dataset_slug`` and ``purpose_slug`` now. Every issue is a
    ledger event naming the versions handed out (never the secrets)."""
    decision, dataset = access_decide(
        principal=actor, dataset_slug=dataset_slug, purpose_slug=purpose_slug
    )
    if not decision.allow:
        raise NotPermitted(
            MSG_KEY_NOT_ALLOWED, {"reasons": [reason["code"] for reason in decision.reasons]}
        )
    keys = pseudonyms.purpose_keys(purpose_slug)
    audit.record(
        action="access.pseudonym_key_issued",
        target=dataset,
        actor=actor,
        object_repr=f"pseudonymization keys of {purpose_slug}",
        data={
            "dataset": dataset_slug,
            "purpose": purpose_slug,
            "principal": Principal.of(user=actor).label,
            "grant": decision.grant_id,
            "versions": [key.version for key in keys],
        },
    )
    return KeyIssue(purpose=purpose_slug, dataset=dataset_slug, keys=keys)
