from __future__ import annotations

import hashlib

from django.db.models import QuerySet

from consent.models import Purpose
from consent.policy import purpose_current, purposes_current
from datasets.models import Dataset
from governance.access.models import Acknowledgement
from governance.accounts.models import User
from governance.accounts.policy import role_holders


def dataset_categories(dataset: Dataset) -> set[str]:
    return {
        key for key in dataset.fields.exclude(category=None).values_list("category__key", flat=True)
    }


def dataset_has_special(dataset: Dataset) -> bool:
    return dataset.fields.exclude(special_category="").exists()


def terms_for(purpose: Purpose, dataset: Dataset) -> tuple[str, str, str]:
    """The terms a grantee acknowledges: (version, text, sha256)."""
    text = (
        f"I will use the dataset '{dataset.slug}' only for the purpose '{purpose.name}' "
        f"({purpose.slug}, version {purpose.version}, legal basis {purpose.legal_basis}): "
        f"{purpose.description.strip()}\n"
        "I will read only the granted fields and apply every obligation the check API returns "
        "(drop, mask, pseudonymize or generalize fields; keep only subjects whose consent is "
        "valid when the purpose's basis is consent). I will not try to re-identify anyone, will "
        "not copy the data elsewhere, and will delete my copies when the grant ends."
    )
    return terms_version(purpose), text, hashlib.sha256(text.encode()).hexdigest()


def terms_version(purpose: Purpose) -> str:
    return f"{purpose.slug}@v{purpose.version}"


def terms_purpose(grant, current: dict[str, Purpose] | None = None) -> Purpose:
    """The purpose version whose terms a grant is used under: the version in force now, so a
    new version of the purpose asks for acknowledgement again, and acknowledging records that
    version (the one owner of this rule: the check, the API, the portal and the service call
    it). While no version is active, the version the grant was made under."""
    found = (
        current.get(grant.purpose_slug)
        if current is not None
        else purpose_current(grant.purpose_slug)
    )
    # Only an active version is in force: acknowledging a draft would sign terms nobody has
    # approved yet (they may still change before activation).
    if found is None or found.status != Purpose.Status.ACTIVE:
        return grant.purpose
    return found


def grant_terms(grant, current: dict[str, Purpose] | None = None) -> tuple[str, str, str]:
    """(version, text, sha256) of the terms the grant is used under now. ``current``: the
    purposes in force by slug (``purposes_current``), when rendering many grants."""
    return terms_for(terms_purpose(grant, current), grant.dataset)


def acknowledged_grant_ids(
    grants, *, user: User | None = None, current: dict[str, Purpose] | None = None
) -> set[int]:
    """Grants whose current terms were acknowledged (by `user`, or by anyone)."""
    grants = list(grants)
    if not grants:
        return set()
    if current is None:
        current = purposes_current(g.purpose_slug for g in grants)
    # The version *and* the digest of its text: what was acknowledged is what is in force.
    wanted = {g.pk: grant_terms(g, current) for g in grants}
    rows = Acknowledgement.objects.filter(grant_id__in=list(wanted))
    if user is not None:
        rows = rows.filter(user=user)
    return {
        grant_id
        for grant_id, version, digest in rows.values_list(
            "grant_id", "terms_version", "terms_sha256"
        )
        if (wanted[grant_id][0], wanted[grant_id][2]) == (version, digest)
    }


def people_with_role(role: str) -> QuerySet[User]:
    return User.objects.filter(role_holders(role), kind=User.Kind.PERSON).distinct()
