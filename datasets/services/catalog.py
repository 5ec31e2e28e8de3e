"""Datasets, stewards, fields and categories."""

from __future__ import annotations

import re

from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, get_users_with_perms, remove_perm

from datasets.models import DataCategory, Dataset, Field, Tag
from datasets.services.common import (
    MSG_RETIRED,
    refresh_sensitivity,
    require_draft,
    require_manage,
)
from datasets.taxonomy import Role, Special
from governance.accounts.models import User
from governance.audit import services as audit
from governance.errors import ApplicationError, Conflict, NotPermitted

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
TAG = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
FIELD_NAME = re.compile(r"^[^\s].{0,199}$")
CATEGORY_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")

MSG_CREATE_FORBIDDEN = "Only stewards and administrators can add datasets."
MSG_SLUG_INVALID = (
    "A slug is 1-100 lowercase letters, digits and hyphens, not starting or ending with a hyphen."
)
MSG_SLUG_TAKEN = "A dataset with this slug already exists."
MSG_TAG_INVALID = "Tags are lowercase letters, digits and hyphens (at most 50 characters)."
MSG_STEWARD_NOT_ELIGIBLE = "{username} cannot steward datasets: give them the steward role first."
MSG_NO_STEWARD = "A dataset needs at least one steward."
MSG_OWNER_NOT_PERSON = "The owner must be an active person."
MSG_FIELD_NAME_INVALID = "A field name is 1-200 characters and does not start with a space."
MSG_FIELD_EXISTS = "This dataset already has a field with that name."
MSG_ROLE_INVALID = "Unknown attribute role."
MSG_TREATMENT_INVALID = "Unknown treatment."
MSG_SPECIAL_INVALID = "Unknown special category."
MSG_SPECIAL_REQUIRED = (
    "Category {category} is special-category data ({special}); set the special category."
)
MSG_TREATMENT_REQUIRED = "Choose how the field must be treated before training."
MSG_CATEGORY_FORBIDDEN = "Only administrators can extend the taxonomy."
MSG_CATEGORY_KEY_INVALID = (
    "A category key is a dot path of lowercase words, e.g. user.contact.email."
)
MSG_CATEGORY_EXISTS = "This category already exists."
MSG_CATEGORY_PARENT_MISSING = "The parent category {parent} does not exist."
MSG_STORAGE_INVALID = "Unknown storage kind."

UPDATABLE = (
    "name",
    "description",
    "location",
    "storage_kind",
    "subject_id_field",
    "event_time_field",
    "owner",
)


def _tags(names) -> list[Tag]:
    tags = []
    for name in names or ():
        name = name.strip().lower()
        if not name:
            continue
        if not TAG.match(name):
            raise ApplicationError(MSG_TAG_INVALID, {"field": "tags"})
        tags.append(Tag.objects.get_or_create(name=name)[0])
    return tags


def _eligible_steward(user: User) -> bool:
    return (
        user.is_active
        and not user.is_service_account
        and (user.has_role("steward") or user.has_role("admin"))
    )


@transaction.atomic
def dataset_create(
    *,
    actor: User,
    slug: str,
    name: str,
    storage_kind: str,
    owner: User | None = None,
    description: str = "",
    location: str = "",
    subject_id_field: str = "",
    event_time_field: str = "",
    tags=(),
) -> Dataset:
    """Add a draft dataset. Its creator becomes its first steward."""
    if not actor.has_perm("datasets.add_dataset"):
        raise NotPermitted(MSG_CREATE_FORBIDDEN)
    if not SLUG.match(slug or ""):
        raise ApplicationError(MSG_SLUG_INVALID, {"field": "slug"})
    if storage_kind not in Dataset.StorageKind.values:
        raise ApplicationError(MSG_STORAGE_INVALID, {"field": "storage_kind"})
    owner = owner or actor
    if owner.is_service_account or not owner.is_active:
        raise ApplicationError(MSG_OWNER_NOT_PERSON, {"field": "owner"})
    if Dataset.objects.filter(slug=slug).exists():
        raise Conflict(MSG_SLUG_TAKEN, {"field": "slug"})
    tag_objects = _tags(tags)
    dataset = Dataset.objects.create(
        slug=slug,
        name=name.strip() or slug,
        description=description,
        owner=owner,
        location=location,
        storage_kind=storage_kind,
        subject_id_field=subject_id_field,
        event_time_field=event_time_field,
        sensitivity=Dataset.Sensitivity.INTERNAL,
    )
    dataset.tags.set(tag_objects)
    if _eligible_steward(actor):
        assign_perm("datasets.change_dataset", actor, dataset)
    audit.record(
        action="dataset.created",
        target=dataset,
        actor=actor,
        data={"stewards": [actor.username] if _eligible_steward(actor) else []},
    )
    return dataset


@transaction.atomic
def dataset_update(*, actor: User, dataset: Dataset, tags=None, **changes) -> Dataset:
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    require_manage(actor, dataset)
    if dataset.status == Dataset.Status.RETIRED:
        raise ApplicationError(MSG_RETIRED)
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ApplicationError(f"These attributes cannot be changed: {', '.join(sorted(unknown))}.")
    if "storage_kind" in changes and changes["storage_kind"] not in Dataset.StorageKind.values:
        raise ApplicationError(MSG_STORAGE_INVALID, {"field": "storage_kind"})
    owner = changes.get("owner")
    if owner is not None and (owner.is_service_account or not owner.is_active):
        raise ApplicationError(MSG_OWNER_NOT_PERSON, {"field": "owner"})
    for key, value in changes.items():
        setattr(dataset, key, value)
    dataset.updated_at = timezone.now()
    dataset.save(update_fields=[*changes, "updated_at"])
    if tags is not None:
        dataset.tags.set(_tags(tags))
    return dataset


def dataset_stewards(dataset: Dataset) -> list[User]:
    users = get_users_with_perms(
        dataset, only_with_perms_in=["change_dataset"], with_group_users=False
    )
    return sorted(users, key=lambda u: u.username)


@transaction.atomic
def dataset_stewards_set(*, actor: User, dataset: Dataset, stewards: list[User]) -> list[User]:
    """Make ``stewards`` exactly the people who manage this dataset."""
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    require_manage(actor, dataset)
    if not stewards:
        raise ApplicationError(MSG_NO_STEWARD, {"field": "stewards"})
    for user in stewards:
        if not _eligible_steward(user):
            raise ApplicationError(
                MSG_STEWARD_NOT_ELIGIBLE.format(username=user.username), {"field": "stewards"}
            )
    before = {u.pk: u for u in dataset_stewards(dataset)}
    after = {u.pk: u for u in stewards}
    for pk in before.keys() - after.keys():
        remove_perm("datasets.change_dataset", before[pk], dataset)
    for pk in after.keys() - before.keys():
        assign_perm("datasets.change_dataset", after[pk], dataset)
    audit.record(
        action="dataset.stewards_changed",
        target=dataset,
        actor=actor,
        data={
            "before": sorted(u.username for u in before.values()),
            "after": sorted(u.username for u in after.values()),
        },
    )
    return sorted(after.values(), key=lambda u: u.username)


@transaction.atomic
def field_create(
    *, actor: User, dataset: Dataset, name: str, data_type: str = "", description: str = ""
) -> Field:
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    require_manage(actor, dataset)
    require_draft(dataset)
    return _field_add(dataset=dataset, name=name, data_type=data_type, description=description)


def _field_add(*, dataset: Dataset, name: str, data_type: str = "", description: str = "") -> Field:
    name = (name or "").strip()
    if not FIELD_NAME.match(name):
        raise ApplicationError(MSG_FIELD_NAME_INVALID, {"field": "name"})
    if dataset.fields.filter(name=name).exists():
        raise Conflict(MSG_FIELD_EXISTS, {"field": "name"})
    position = dataset.fields.count()
    field = Field.objects.create(
        dataset=dataset,
        name=name,
        data_type=data_type[:50],
        description=description,
        position=position,
    )
    refresh_sensitivity(dataset)
    return field


def validate_classification(
    *, category: DataCategory | None, role: str, special_category: str, treatment: str
) -> None:
    if role not in dict(Role.CHOICES):
        raise ApplicationError(MSG_ROLE_INVALID, {"field": "role"})
    if special_category not in dict(Special.CHOICES):
        raise ApplicationError(MSG_SPECIAL_INVALID, {"field": "special_category"})
    if not treatment:
        raise ApplicationError(MSG_TREATMENT_REQUIRED, {"field": "treatment"})
    if treatment not in Field.Treatment.values:
        raise ApplicationError(MSG_TREATMENT_INVALID, {"field": "treatment"})
    if category is not None and category.special_category and not special_category:
        raise ApplicationError(
            MSG_SPECIAL_REQUIRED.format(
                category=category.key, special=category.get_special_category_display()
            ),
            {"field": "special_category"},
        )


def apply_classification(
    *,
    field: Field,
    actor: User,
    category: DataCategory | None,
    role: str,
    special_category: str,
    treatment: str,
    source: str,
) -> Field:
    """Write a classification to a field (caller holds the dataset lock and checked access)."""
    validate_classification(
        category=category, role=role, special_category=special_category, treatment=treatment
    )
    field.category = category
    field.role = role
    field.special_category = special_category
    field.treatment = treatment
    field.classification_source = source
    field.classified_by = actor
    field.classified_at = timezone.now()
    field.save(
        update_fields=[
            "category",
            "role",
            "special_category",
            "treatment",
            "classification_source",
            "classified_by",
            "classified_at",
        ]
    )
    refresh_sensitivity(field.dataset)
    return field


@transaction.atomic
def field_classify(
    *,
    actor: User,
    field: Field,
    category: DataCategory | None,
    role: str,
    special_category: str = "",
    treatment: str,
    description: str | None = None,
) -> Field:
    """A person classifies a field (who and when are recorded)."""
    dataset = Dataset.objects.select_for_update().get(pk=field.dataset_id)
    require_manage(actor, dataset)
    require_draft(dataset)
    field = Field.objects.select_for_update().get(pk=field.pk)
    field.dataset = dataset
    if description is not None:
        field.description = description
        field.save(update_fields=["description"])
    return apply_classification(
        field=field,
        actor=actor,
        category=category,
        role=role,
        special_category=special_category,
        treatment=treatment,
        source=Field.Source.MANUAL,
    )


@transaction.atomic
def category_create(
    *,
    actor: User,
    key: str,
    name: str,
    default_role: str,
    special_category: str = "",
    description: str = "",
) -> DataCategory:
    if not actor.has_perm("datasets.add_datacategory"):
        raise NotPermitted(MSG_CATEGORY_FORBIDDEN)
    if not CATEGORY_KEY.match(key or ""):
        raise ApplicationError(MSG_CATEGORY_KEY_INVALID, {"field": "key"})
    if DataCategory.objects.filter(key=key).exists():
        raise Conflict(MSG_CATEGORY_EXISTS, {"field": "key"})
    parent = key.rsplit(".", 1)[0] if "." in key else None
    if parent and not DataCategory.objects.filter(key=parent).exists():
        raise ApplicationError(MSG_CATEGORY_PARENT_MISSING.format(parent=parent), {"field": "key"})
    if default_role not in dict(Role.CHOICES):
        raise ApplicationError(MSG_ROLE_INVALID, {"field": "default_role"})
    if special_category not in dict(Special.CHOICES):
        raise ApplicationError(MSG_SPECIAL_INVALID, {"field": "special_category"})
    category = DataCategory.objects.create(
        key=key,
        name=name,
        description=description,
        default_role=default_role,
        special_category=special_category,
    )
    audit.record(action="taxonomy.category_added", target=category, actor=actor)
    return category
