from __future__ import annotations

import hashlib

from django.db.models import QuerySet

from consent.models import Purpose
from datasets.models import Dataset
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
    version = f"{purpose.slug}@v{purpose.version}"
    return version, text, hashlib.sha256(text.encode()).hexdigest()


def people_with_role(role: str) -> QuerySet[User]:
    return User.objects.filter(role_holders(role), kind=User.Kind.PERSON).distinct()
