from __future__ import annotations

from datasets import services
from datasets.models import DataCategory, Dataset

ANSWERS = {
    "personal_fields_need": "Email links tickets of one customer for the router model.",
    "anonymization": "Email is pseudonymized with a keyed hash before training.",
    "access_and_duration": "The support NLP team, for 30 days at a time.",
}


def make_dataset(steward, slug="support-tickets", fields=None, **extra) -> Dataset:
    """A draft dataset stewarded by ``steward`` with classified fields:
    fields = {"name": (category_key|None, role, special, treatment)}."""
    dataset = services.dataset_create(
        actor=steward,
        slug=slug,
        name=slug.replace("-", " "),
        storage_kind=extra.pop("storage_kind", "csv"),
        **extra,
    )
    for name, (key, role, special, treatment) in (fields or {}).items():
        field = services.field_create(actor=steward, dataset=dataset, name=name)
        category = DataCategory.objects.get(key=key) if key else None
        services.field_classify(
            actor=steward,
            field=field,
            category=category,
            role=role,
            special_category=special,
            treatment=treatment,
        )
    dataset.refresh_from_db()
    return dataset


BASIC_FIELDS = {
    "ticket_id": (None, "non_personal", "", "keep"),
    "email": ("user.contact.email", "direct_identifier", "", "pseudonymize"),
}


def make_approved(steward, approver, slug="support-tickets", fields=None) -> Dataset:
    dataset = make_dataset(steward, slug=slug, fields=fields or BASIC_FIELDS)
    services.dataset_submit(actor=steward, dataset=dataset, **ANSWERS)
    services.dataset_approve(actor=approver, dataset=dataset, note="Checked as described.")
    dataset.refresh_from_db()
    return dataset
