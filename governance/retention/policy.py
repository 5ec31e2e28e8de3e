"""Retention rules — the one owner of "who may manage, see and start retention" and "when may
retention touch a dataset's store".

- A dataset's stewards (while they hold the role), privacy officers and administrators manage
  its retention (policy, preview, runs); auditors read it.
- Only privacy officers place and release legal holds and handle erasure requests.
- Retention touches a store only for an approved dataset — its location, subject-id and
  event-time fields passed the privacy review as they are now — whose location belongs to no
  other dataset (re-checked when each run starts: a symlink or a new connection name can make
  two names one place).
"""

from __future__ import annotations

from django.db.models import Q

from datasets import policy as catalog
from datasets.models import Dataset
from governance.accounts.models import User
from governance.accounts.policy import holds_role, is_active_person
from governance.accounts.roles import Role
from governance.policy import Refusal, conflict, forbidden

MSG_POLICY_FORBIDDEN = (
    "Only the dataset's stewards, privacy officers and administrators manage its retention."
)
MSG_VIEW_FORBIDDEN = (
    "Retention is visible to the dataset's stewards, privacy officers, auditors and administrators."
)
MSG_PRIVACY_ONLY = "Only privacy officers place legal holds and handle erasure requests."
MSG_HOLDS_FORBIDDEN = "Legal holds are visible to privacy officers, auditors and administrators."
MSG_REQUESTS_FORBIDDEN = (
    "Erasure requests are visible to privacy officers, auditors and administrators."
)
MSG_NOT_APPROVED = (
    "Retention acts only on approved datasets: this one is {status}. Where it lives and how its "
    "rows are found need a privacy review first."
)
MSG_LOCATION_SHARED = (
    "The dataset's location now overlaps another dataset's (a symlink or another name for the "
    "same database?): retention does not touch a store two datasets claim."
)

_SEES_ALL = (Role.PRIVACY_OFFICER, Role.AUDITOR, Role.ADMIN)


def sees_all(user: User | None) -> bool:
    return holds_role(user, *_SEES_ALL)


def is_privacy_officer(user: User | None) -> bool:
    return holds_role(user, Role.PRIVACY_OFFICER) and is_active_person(user)


def may_manage(user: User | None, dataset: Dataset) -> Refusal | None:
    if is_privacy_officer(user) or catalog.may_manage(user, dataset) is None:
        return None
    return forbidden(MSG_POLICY_FORBIDDEN)


def may_view(user: User | None, dataset: Dataset) -> Refusal | None:
    if holds_role(user, Role.AUDITOR) or may_manage(user, dataset) is None:
        return None
    return forbidden(MSG_VIEW_FORBIDDEN)


def may_open(user: User | None) -> Refusal | None:
    """The retention pages at all: stewards, privacy officers, auditors, administrators."""
    if holds_role(user, Role.STEWARD, *_SEES_ALL):
        return None
    return forbidden(MSG_VIEW_FORBIDDEN)


def visible_to(user: User | None) -> Q:
    """Datasets whose retention ``user`` may see (filter form of ``may_view``)."""
    if sees_all(user):
        return Q()
    return catalog.stewarded_by(user)


def may_handle_holds(user: User | None) -> Refusal | None:
    return None if is_privacy_officer(user) else forbidden(MSG_PRIVACY_ONLY)


def may_handle_erasure(user: User | None) -> Refusal | None:
    return None if is_privacy_officer(user) else forbidden(MSG_PRIVACY_ONLY)


def may_see_holds(user: User | None) -> Refusal | None:
    return None if sees_all(user) else forbidden(MSG_HOLDS_FORBIDDEN)


def may_see_erasure_requests(user: User | None) -> Refusal | None:
    return None if sees_all(user) else forbidden(MSG_REQUESTS_FORBIDDEN)


def store_refusal(dataset: Dataset) -> Refusal | None:
    """May retention read or change the dataset's store now (preview, run, dispatch)?"""
    if dataset.status != Dataset.Status.APPROVED:
        return conflict(MSG_NOT_APPROVED.format(status=dataset.status), status=dataset.status)
    if catalog.location_refusal(catalog.location_of(dataset), dataset=dataset) is not None:
        return conflict(MSG_LOCATION_SHARED)
    return None


def acting_on(prefix: str = "") -> Q:
    """Datasets retention may act on (the filter form of the status half of
    ``store_refusal``; the location half is re-checked per run)."""
    return Q(**{f"{prefix}status": Dataset.Status.APPROVED})


MSG_CONFIRMED_CHANGED = (
    "What you confirmed changed: now {rows} row(s) and {files} file(s). Check the new counts "
    "and confirm again."
)

# What a "Run now" confirmation is about, apart from the counts: the criteria that pick the
# rows. The cutoff is left out (it moves with the clock; the counts catch what it adds).
_FINGERPRINTED = (
    "kind",
    "action",
    "max_age_days",
    "max_age_source",
    "grace_days",
    "expires_at",
    "expired",
    "purposes",
    "dataset_holds",
    "namespace",
)


def confirmation_fingerprint(summary: dict, *, last_run: int | None) -> str:
    """A digest of the criteria a person confirms, and of the dataset's latest run when they
    looked: a confirmation is for one run, so once any run has started since, it is stale."""
    import hashlib
    import json

    document = {key: summary.get(key) for key in _FINGERPRINTED}
    document["last_run"] = last_run
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


def confirmation_refusal(confirmed: dict, fresh: dict) -> Refusal | None:
    """A run started from a confirmation page deletes no more than the person confirmed: the
    criteria (fingerprint) must be the ones they saw and the store's counts no higher.
    ``fresh`` is a dry run made just now (``services.retention_preview``)."""
    totals = fresh["totals"]
    if (
        confirmed.get("fingerprint") != fresh["fingerprint"]
        or confirmed.get("rows") is None
        or confirmed.get("files") is None
        or totals["rows"] > confirmed["rows"]
        or totals["files"] > confirmed["files"]
    ):
        return conflict(
            MSG_CONFIRMED_CHANGED.format(rows=totals["rows"], files=totals["files"]),
            rows=totals["rows"],
            files=totals["files"],
            stale_confirmation=True,
        )
    return None
