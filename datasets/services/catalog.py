"""Datasets, stewards, fields and categories."""

from __future__ import annotations

import re

from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import (
    assign_perm,
    get_objects_for_user,
    get_users_with_perms,
    remove_perm,
)

from datasets import policy
from datasets.locations import FILE_KINDS, connection_names, connection_url
from datasets.models import DataCategory, Dataset, Field, Tag
from datasets.services.common import lock_locations, refresh_sensitivity
from datasets.taxonomy import Role, Special
from governance.accounts.models import User
from governance.accounts.roles import Role as AccountRole
from governance.audit import services as audit
from governance.errors import ApplicationError, Conflict
from governance.policy import require

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
TAG = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
CATEGORY_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")

MSG_CREATE_FORBIDDEN = policy.MSG_CREATE_FORBIDDEN
MSG_SLUG_INVALID = (
    "A slug is 1-100 lowercase letters, digits and hyphens, not starting or ending with a hyphen."
)
MSG_SLUG_TAKEN = "A dataset with this slug already exists."
MSG_TAG_INVALID = "Tags are lowercase letters, digits and hyphens (at most 50 characters)."
MSG_STEWARD_NOT_ELIGIBLE = policy.MSG_STEWARD_NOT_ELIGIBLE
MSG_NO_STEWARD = "A dataset needs at least one steward."
MSG_OWNER_NOT_PERSON = "The owner must be an active person."
MSG_FIELD_EXISTS = "This dataset already has a field with that name."
MSG_ROLE_INVALID = "Unknown attribute role."
MSG_TREATMENT_INVALID = "Unknown treatment."
MSG_SPECIAL_INVALID = "Unknown special category."
MSG_SPECIAL_REQUIRED = (
    "Category {category} is special-category data ({special}); set the special category."
)
MSG_TREATMENT_REQUIRED = "Choose how the field must be treated before training."
MSG_NON_PERSONAL_SPECIAL = (
    "Data that is not personal cannot be in a special category: choose a personal role "
    "(sensitive attribute) or no special category."
)
MSG_CATEGORY_FORBIDDEN = policy.MSG_CATEGORY_FORBIDDEN
MSG_CATEGORY_KEY_INVALID = (
    "A category key is a dot path of lowercase words, e.g. user.contact.email."
)
MSG_CATEGORY_EXISTS = "This category already exists."
MSG_CATEGORY_PARENT_MISSING = "The parent category {parent} does not exist."
MSG_STORAGE_INVALID = "Unknown storage kind."
MSG_CONNECTION_UNKNOWN = "No connection named {name!r}; configured: {known}."
MSG_CONNECTION_NOT_TABLE = "A connection applies only to PostgreSQL tables."
MSG_SUBJECT_NAMESPACE = (
    "A subject namespace is 1-64 characters of lowercase letters, digits and . _ -, starting "
    "with a letter or digit (the consent registry's namespace, for example 'shop')."
)
# The consent registry's namespace format (consent.identifiers.NAMESPACE; the catalog does not
# import the consent app).
SUBJECT_NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")

UPDATABLE = (
    "name",
    "description",
    "location",
    "storage_kind",
    "connection",
    "subject_id_field",
    "subject_namespace",
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


def _check_location(storage_kind: str, location: str) -> None:
    if storage_kind in FILE_KINDS and location.startswith("~"):
        raise ApplicationError(policy.MSG_LOCATION_HOME, {"field": "location"})


def _subject_namespace(value: str) -> str:
    value = (value or "").strip()
    if value and not SUBJECT_NAMESPACE.match(value):
        raise ApplicationError(MSG_SUBJECT_NAMESPACE, {"field": "subject_namespace"})
    return value


def _check_connection(storage_kind: str, connection: str) -> None:
    if not connection:
        return
    if storage_kind != Dataset.StorageKind.POSTGRES_TABLE:
        raise ApplicationError(MSG_CONNECTION_NOT_TABLE, {"field": "connection"})
    if connection_url(connection) is None:
        known = ", ".join(connection_names()) or "none configured"
        raise ApplicationError(
            MSG_CONNECTION_UNKNOWN.format(name=connection, known=known), {"field": "connection"}
        )


@audit.records_refusal("dataset.create_refused", actor="actor")
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
    connection: str = "",
    subject_id_field: str = "",
    subject_namespace: str = "",
    event_time_field: str = "",
    tags=(),
) -> Dataset:
    """Add a draft dataset. Its creator becomes its first steward (if they hold the role). Its
    location must not be another dataset's (checked under a lock, so two concurrent claims of
    one place cannot both succeed)."""
    require(policy.may_create(actor))
    if not SLUG.match(slug or ""):
        raise ApplicationError(MSG_SLUG_INVALID, {"field": "slug"})
    if storage_kind not in Dataset.StorageKind.values:
        raise ApplicationError(MSG_STORAGE_INVALID, {"field": "storage_kind"})
    location, connection = (location or "").strip(), (connection or "").strip()
    _check_location(storage_kind, location)
    _check_connection(storage_kind, connection)
    owner = owner or actor
    if owner.is_service_account or not owner.is_active:
        raise ApplicationError(MSG_OWNER_NOT_PERSON, {"field": "owner"})
    if Dataset.objects.filter(slug=slug).exists():
        raise Conflict(MSG_SLUG_TAKEN, {"field": "slug"})
    tag_objects = _tags(tags)
    dataset = Dataset(
        slug=slug,
        name=name.strip() or slug,
        description=description,
        owner=owner,
        location=location,
        connection=connection,
        storage_kind=storage_kind,
        subject_id_field=subject_id_field,
        subject_namespace=_subject_namespace(subject_namespace),
        event_time_field=event_time_field,
        sensitivity=Dataset.Sensitivity.INTERNAL,
        created_by=actor,
    )
    lock_locations()
    require(policy.location_refusal(policy.location_of(dataset)))
    dataset.save()
    dataset.tags.set(tag_objects)
    stewards = []
    if policy.may_steward(actor) is None:
        assign_perm("datasets.change_dataset", actor, dataset)
        stewards.append(actor.username)
    audit.record(action="dataset.created", target=dataset, actor=actor, data={"stewards": stewards})
    return dataset


@audit.records_refusal("dataset.update_refused", target="dataset", actor="actor")
@transaction.atomic
def dataset_update(*, actor: User, dataset: Dataset, tags=None, **changes) -> Dataset:
    """Change catalog attributes. Where the dataset lives (storage kind, location, connection,
    subject-id and event-time fields) changes only in draft and never onto another dataset's
    location. Attributes given with their current value are not changes."""
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ApplicationError(f"These attributes cannot be changed: {', '.join(sorted(unknown))}.")
    changes = {k: v for k, v in changes.items() if getattr(dataset, k) != v}
    require(policy.may_change(actor, dataset, changes))
    if "storage_kind" in changes and changes["storage_kind"] not in Dataset.StorageKind.values:
        raise ApplicationError(MSG_STORAGE_INVALID, {"field": "storage_kind"})
    for name in ("location", "connection"):
        if name in changes:
            changes[name] = (changes[name] or "").strip()
    if "subject_namespace" in changes:
        changes["subject_namespace"] = _subject_namespace(changes["subject_namespace"])
    _check_location(
        changes.get("storage_kind", dataset.storage_kind),
        changes.get("location", dataset.location),
    )
    _check_connection(
        changes.get("storage_kind", dataset.storage_kind),
        changes.get("connection", dataset.connection),
    )
    owner = changes.get("owner")
    if owner is not None and (owner.is_service_account or not owner.is_active):
        raise ApplicationError(MSG_OWNER_NOT_PERSON, {"field": "owner"})
    if set(changes) & set(policy.LOCATION_ATTRIBUTES):
        lock_locations()
        require(policy.location_refusal(policy.location_of(dataset, **changes), dataset=dataset))
    for key, value in changes.items():
        setattr(dataset, key, value)
    dataset.updated_at = timezone.now()
    if changes:
        dataset.save(update_fields=[*changes, "updated_at"])
    if tags is not None:
        dataset.tags.set(_tags(tags))
    return dataset


def dataset_stewards(dataset: Dataset) -> list[User]:
    """The people who steward the dataset now (holding the object permission and the role)."""
    users = get_users_with_perms(
        dataset, only_with_perms_in=["change_dataset"], with_group_users=False
    )
    return sorted((u for u in users if policy.is_steward_of(u, dataset)), key=lambda u: u.username)


@audit.records_refusal("dataset.stewards_refused", target="dataset", actor="actor")
@transaction.atomic
def dataset_stewards_set(*, actor: User, dataset: Dataset, stewards: list[User]) -> list[User]:
    """Make ``stewards`` exactly the people who manage this dataset."""
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    require(policy.may_manage(actor, dataset))
    if not stewards:
        raise ApplicationError(MSG_NO_STEWARD, {"field": "stewards"})
    for user in stewards:
        require(policy.may_steward(user))
    before = {u.pk: u for u in dataset_stewards(dataset)}
    holders = {
        u.pk: u
        for u in get_users_with_perms(
            dataset, only_with_perms_in=["change_dataset"], with_group_users=False
        )
    }
    after = {u.pk: u for u in stewards}
    for pk in holders.keys() - after.keys():
        remove_perm("datasets.change_dataset", holders[pk], dataset)
    for pk in after.keys() - holders.keys():
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


def stewardships_end(*, user: User, actor: User | None) -> int:
    """The steward role was taken from ``user``: their stewardships end with it (the object
    permissions are removed, one ledger event per dataset). Runs inside the roles service's
    transaction, through ``governance.accounts.services.roles_changed``."""
    datasets = list(
        get_objects_for_user(
            user, "datasets.change_dataset", klass=Dataset, accept_global_perms=False
        ).order_by("pk")
    )
    for dataset in datasets:
        before = sorted(
            u.username
            for u in get_users_with_perms(
                dataset, only_with_perms_in=["change_dataset"], with_group_users=False
            )
        )
        remove_perm("datasets.change_dataset", user, dataset)
        audit.record(
            action="dataset.stewards_changed",
            target=dataset,
            actor=actor,
            data={
                "before": before,
                "after": [name for name in before if name != user.username],
                "reason": "role_removed",
            },
        )
    return len(datasets)


def on_roles_changed(sender, *, user, before, after, actor, **kwargs) -> None:
    if AccountRole.STEWARD in before and AccountRole.STEWARD not in after:
        stewardships_end(user=user, actor=actor)


@transaction.atomic
def field_create(
    *, actor: User, dataset: Dataset, name: str, data_type: str = "", description: str = ""
) -> Field:
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    require(policy.may_classify(actor, dataset))
    return _field_add(dataset=dataset, name=name, data_type=data_type, description=description)


def _field_add(*, dataset: Dataset, name: str, data_type: str = "", description: str = "") -> Field:
    name = (name or "").strip()
    if problem := policy.field_name_problem(name):
        raise ApplicationError(problem, {"field": "name"})
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
    if role == Role.NON_PERSONAL and special_category:
        # Special categories (Art. 9) are personal data by definition: the two contradict.
        raise ApplicationError(MSG_NON_PERSONAL_SPECIAL, {"field": "special_category"})
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
    require(policy.may_classify(actor, dataset))
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
    require(policy.may_extend_taxonomy(actor))
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
