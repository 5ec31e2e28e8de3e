from __future__ import annotations

import hashlib

from django.contrib.auth.models import Group
from django.db.models import Q, QuerySet

from consent.models import Purpose
from datasets.models import Dataset
from datasets.services import can_manage
from governance.accounts.models import User


def purpose_current(slug: str) -> Purpose | None:
    """The active version of a purpose, or (if none is active) its latest version."""
    versions = Purpose.objects.filter(slug=slug)
    return (
        versions.filter(status=Purpose.Status.ACTIVE).first()
        or versions.order_by("-version").first()
    )


def is_steward_of(user: User, dataset: Dataset) -> bool:
    return user.has_role("steward") and can_manage(user, dataset)


def is_privacy_officer(user: User) -> bool:
    return user.is_active and user.has_role("privacy_officer")


def person_behind(user: User) -> User:
    """The person accountable for a principal: a service account's owner, else the user."""
    if user.is_service_account:
        return user.service_account.owner
    return user


def principal_q(user: User, prefix: str = "") -> Q:
    """Grants or requests whose principal is ``user`` or one of its role groups."""
    groups = Group.objects.filter(user=user).values("pk")
    return Q(**{f"{prefix}principal_user": user}) | Q(**{f"{prefix}principal_group__in": groups})


def principal_label(*, user: User | None, group: Group | None) -> str:
    if group is not None:
        return f"role:{group.name}"
    if user.is_service_account:
        return f"service_account:{user.service_account.name}"
    return f"user:{user.username}"


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
    version = f"{purpose.slug}@v{purpose.version}"
    return version, text, hashlib.sha256(text.encode()).hexdigest()


def people_with_role(role: str) -> QuerySet[User]:
    return User.objects.filter(groups__name=role, is_active=True, kind=User.Kind.PERSON)
