"""Who may do what in the catalog, and which physical location belongs to which dataset — the
one owner of these rules (see governance/policy.py for the shape of a rule).

Stewardship is a django-guardian object permission (``datasets.change_dataset`` on the
dataset) that takes effect only while its holder holds the steward role: a former steward's
leftover permission gives nothing (and the roles service removes it, see ``apps.py``).
Administrators manage every dataset; the legal sign-off (approval) belongs to privacy
officers, never to whoever created the dataset or submitted its review.
"""

from __future__ import annotations

from django.db.models import Q
from guardian.models import UserObjectPermission
from guardian.shortcuts import get_objects_for_user

from datasets.locations import Location, overlaps, physical_location
from datasets.models import Dataset
from governance.accounts.models import User
from governance.accounts.policy import holds_role, is_active_person, sign_off_refusal
from governance.accounts.roles import Role
from governance.policy import (
    Refusal,
    conflict,
    fingerprint,
    forbidden,
    holds_permission,
    invalid,
    not_found,
    stale_signoff,
)

MSG_NOT_FOUND = "No such dataset."
MSG_MANAGE_FORBIDDEN = "You do not steward this dataset."
MSG_CREATE_FORBIDDEN = "Only stewards and administrators can add datasets."
MSG_APPROVE_FORBIDDEN = "Only a privacy officer approves datasets."
MSG_OWN_SIGN_OFF = (
    "You created this dataset, classified its fields or submitted its review; another privacy "
    "officer must approve it."
)
MSG_RETURN_FORBIDDEN = "Only a privacy officer or the dataset's stewards return a review."
MSG_RETIRED = "This dataset is retired; reopen it first."
MSG_NOT_DRAFT = (
    "Classification can change only while the dataset is a draft; reopen it first (an approved "
    "dataset then needs a new review)."
)
MSG_LOCATION_NEEDS_DRAFT = (
    "Where the dataset lives (storage kind, location, connection) and its subject-id and "
    "event-time fields change only in draft: reopen the dataset first; it then needs a new "
    "privacy review before scans or retention touch the new location."
)
MSG_LOCATION_HOME = (
    "Give the location as an absolute path, or a path relative to the project directory: "
    "'~' would mean a different folder for each process."
)
MSG_LOCATION_TAKEN = (
    "This location is already cataloged as another dataset's, or overlaps one: a physical "
    "location (a file or folder, a table on a database) belongs to exactly one dataset."
)
MSG_SCAN_OTHER_DATASET = (
    "This sample lies in another dataset's location; a dataset's scans read only its own data "
    "(or an uploaded sample)."
)
MSG_CATEGORY_FORBIDDEN = "Only administrators can extend the taxonomy."
MSG_STEWARD_NOT_ELIGIBLE = "{username} cannot steward datasets: give them the steward role first."

#: What says where a dataset lives and how its rows are found: changes need a new review.
LOCATION_ATTRIBUTES = (
    "storage_kind",
    "location",
    "connection",
    "subject_id_field",
    "subject_namespace",
    "event_time_field",
)

_SEES_ALL = (Role.PRIVACY_OFFICER, Role.AUDITOR, Role.ADMIN)


# --- stewardship --------------------------------------------------------------------------------


def is_steward_of(user: User | None, dataset: Dataset) -> bool:
    """Holds the steward role now and was made steward of this dataset."""
    if not holds_role(user, Role.STEWARD) or dataset.pk is None:
        return False
    # guardian's own check says yes to any superuser; stewardship is only the permission given
    return UserObjectPermission.objects.filter(
        user=user,
        permission__codename="change_dataset",
        permission__content_type__app_label="datasets",
        object_pk=str(dataset.pk),
    ).exists()


def stewarded_by(user: User | None) -> Q:
    """Datasets ``user`` stewards (filter form of ``is_steward_of``)."""
    if not holds_role(user, Role.STEWARD):
        return Q(pk__in=[])
    ids = get_objects_for_user(
        user,
        "datasets.change_dataset",
        klass=Dataset,
        accept_global_perms=False,
        with_superuser=False,
    ).values("pk")
    return Q(pk__in=ids)


def may_steward(user: User) -> Refusal | None:
    """Who can be made a steward: an active person holding the steward role."""
    if is_active_person(user) and holds_role(user, Role.STEWARD):
        return None
    return conflict(MSG_STEWARD_NOT_ELIGIBLE.format(username=user.username), field="stewards")


# --- seeing and managing ------------------------------------------------------------------------


def sees_all(user: User | None) -> bool:
    return holds_role(user, *_SEES_ALL)


def visible_to(user: User | None) -> Q:
    """Privacy officers, auditors and administrators see every dataset; stewards the ones they
    steward and approved ones; anyone else with an account approved ones."""
    if sees_all(user):
        return Q()
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Q(pk__in=[])
    return Q(status=Dataset.Status.APPROVED) | stewarded_by(user)


def may_view(user: User | None, dataset: Dataset) -> Refusal | None:
    if sees_all(user) or (dataset.status == Dataset.Status.APPROVED and _active(user)):
        return None
    if is_steward_of(user, dataset):
        return None
    return not_found(MSG_NOT_FOUND)


def managed_by(user: User | None) -> Q:
    """Datasets ``user`` manages (filter form of ``may_manage``)."""
    if holds_role(user, Role.ADMIN):
        return Q()
    return stewarded_by(user)


def may_manage(user: User | None, dataset: Dataset) -> Refusal | None:
    """Administrators manage every dataset; a steward those they steward."""
    if holds_role(user, Role.ADMIN) or is_steward_of(user, dataset):
        return None
    return forbidden(MSG_MANAGE_FORBIDDEN)


def may_create(user: User | None) -> Refusal | None:
    if holds_role(user, Role.STEWARD, Role.ADMIN) and not user.is_service_account:
        return None
    return forbidden(MSG_CREATE_FORBIDDEN)


def may_change(user: User | None, dataset: Dataset, attributes) -> Refusal | None:
    """Change catalog attributes. Where the dataset lives changes only in draft."""
    if refusal := may_manage(user, dataset):
        return refusal
    if dataset.status == Dataset.Status.RETIRED:
        return conflict(MSG_RETIRED)
    if set(attributes) & set(LOCATION_ATTRIBUTES) and dataset.status != Dataset.Status.DRAFT:
        return conflict(MSG_LOCATION_NEEDS_DRAFT, status=dataset.status)
    return None


def may_classify(user: User | None, dataset: Dataset) -> Refusal | None:
    if refusal := may_manage(user, dataset):
        return refusal
    if dataset.status != Dataset.Status.DRAFT:
        return conflict(MSG_NOT_DRAFT, status=dataset.status)
    return None


def may_scan(user: User | None, dataset: Dataset) -> Refusal | None:
    if refusal := may_manage(user, dataset):
        return refusal
    if dataset.status == Dataset.Status.RETIRED:
        return conflict(MSG_RETIRED)
    return None


# --- lifecycle ----------------------------------------------------------------------------------


def may_approve(user: User | None, dataset: Dataset) -> Refusal | None:
    """The legal sign-off: a privacy officer (an administrator's "every permission" does not
    cover it), never the dataset's creator nor the submitter of the review being approved."""
    if not (
        holds_role(user, Role.PRIVACY_OFFICER)
        and holds_permission(user, "datasets.approve_dataset")
    ):
        return forbidden(MSG_APPROVE_FORBIDDEN)
    review = dataset.reviews.order_by("-version").only("submitted_by_id").first()
    return sign_off_refusal(
        user,
        message=MSG_OWN_SIGN_OFF,
        created_by_id=dataset.created_by_id,
        submitted_by_id=review.submitted_by_id if review else None,
        contributed=dataset.fields.filter(classified_by=user).exists(),
    )


MSG_NO_FIELDS = "Describe the dataset's fields before submitting it for review."
MSG_UNCLASSIFIED = "Classify every field before submitting for review; not yet: {names}."
MSG_RESTRICTED_NOTE = (
    "This dataset holds special categories of data: write the note that goes on record with "
    "the approval (what you checked, any condition of use)."
)


def ready_for_review(fields) -> Refusal | None:
    """A dataset goes to privacy review only with fields, every one of them classified. The
    submit page disables its button with this message; the service refuses the same way."""
    fields = list(fields)
    if not fields:
        return invalid(MSG_NO_FIELDS)
    unclassified = [f.name for f in fields if not f.is_classified]
    if unclassified:
        return invalid(
            MSG_UNCLASSIFIED.format(names=", ".join(unclassified[:10])),
            unclassified=unclassified,
        )
    return None


def signoff_checklist(dataset: Dataset) -> list[tuple[str, str]]:
    """What a privacy officer confirms before approving a dataset (portal checklist; the
    service checks each item was ticked)."""
    items = [
        ("classification", "Every field's category, role and treatment matches what it holds."),
        ("answers", "The review answers justify each personal field and who needs access."),
        ("minimisation", "Fields that can be dropped, masked or pseudonymised are treated so."),
    ]
    if dataset.sensitivity == "restricted":
        items.append(
            (
                "special",
                "Special-category fields are necessary, and an Art. 9(2) condition covers "
                "every purpose this dataset will serve.",
            )
        )
    return items


MAX_FIELD_NAME = 200
MSG_FIELD_NAME_EMPTY = "Give the field a name (it cannot start with a space)."
MSG_FIELD_NAME_LENGTH = "A field name is 1 to {limit} characters (this has {length})."
MSG_FIELD_NAME_SLASH = "A field name cannot contain “/” or “\\”."
MSG_FIELD_NAME_DOTS = "A field name cannot be “.” or “..”."
MSG_FIELD_NAME_HIDDEN = "A field name cannot contain control or text-direction characters."


def field_name_problem(name: str) -> str | None:
    """What is wrong with a field name, or None. A field's name is part of its address
    (``/datasets/<slug>/fields/<name>/edit/``) and is shown to approvers, so it is never a path
    (no "/", not "." or "..", which browsers resolve to another address) and hides nothing
    (no control characters, no bidi overrides or other invisible format characters)."""
    import unicodedata

    if not name or name[0].isspace():
        return MSG_FIELD_NAME_EMPTY
    if len(name) > MAX_FIELD_NAME:
        return MSG_FIELD_NAME_LENGTH.format(limit=MAX_FIELD_NAME, length=len(name))
    if "/" in name or "\\" in name:
        return MSG_FIELD_NAME_SLASH
    if name in (".", ".."):
        return MSG_FIELD_NAME_DOTS
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        return MSG_FIELD_NAME_HIDDEN
    return None


def signoff_subject(dataset: Dataset) -> tuple[int, str]:
    """What a privacy officer signs off: the latest review's version and a fingerprint of its
    answers and of the classification of every field as it is now (``dataset_approve`` refuses
    a sign-off made on another version or another classification)."""
    review = dataset.reviews.order_by("-version").first()
    fields = list(
        dataset.fields.order_by("name").values_list(
            "name", "category__key", "role", "special_category", "treatment"
        )
    )
    answers = (
        [review.personal_fields_need, review.anonymization, review.access_and_duration]
        if review
        else []
    )
    version = review.version if review else 0
    return version, fingerprint({"version": version, "answers": answers, "fields": fields})


def stale_signoff_refusal(
    dataset: Dataset, *, version: int | None, seen_fingerprint: str | None
) -> Refusal | None:
    """A sign-off of a review version (or classification) that is no longer the one in review."""
    current, digest = signoff_subject(dataset)
    return stale_signoff(
        seen_version=version,
        seen_fingerprint=seen_fingerprint,
        version=current,
        current_fingerprint=digest,
        what="review",
    )


def approval_note_required(dataset: Dataset) -> bool:
    """Restricted data (special categories) is never approved without a note on record."""
    return dataset.sensitivity == "restricted"


def awaiting_approval_by(user: User | None) -> Q:
    """Datasets in review that ``user`` may approve (filter form of ``may_approve``)."""
    if not (
        holds_role(user, Role.PRIVACY_OFFICER)
        and holds_permission(user, "datasets.approve_dataset")
    ):
        return Q(pk__in=[])
    from django.db.models import OuterRef, Subquery

    from datasets.models import DatasetReview

    latest = DatasetReview.objects.filter(dataset=OuterRef("pk")).order_by("-version")
    own = Dataset.objects.annotate(submitter=Subquery(latest.values("submitted_by_id")[:1])).filter(
        Q(created_by=user) | Q(submitter=user) | Q(fields__classified_by=user)
    )
    return Q(status=Dataset.Status.IN_REVIEW) & ~Q(pk__in=own.values("pk"))


def may_return(user: User | None, dataset: Dataset) -> Refusal | None:
    """A privacy officer asking for changes, or a steward withdrawing the submission."""
    if holds_role(user, Role.PRIVACY_OFFICER) or may_manage(user, dataset) is None:
        return None
    return forbidden(MSG_RETURN_FORBIDDEN)


def may_extend_taxonomy(user: User | None) -> Refusal | None:
    if holds_role(user, Role.ADMIN) and holds_permission(user, "datasets.add_datacategory"):
        return None
    return forbidden(MSG_CATEGORY_FORBIDDEN)


# --- locations ----------------------------------------------------------------------------------


def location_of(dataset: Dataset, **changes) -> Location:
    # Only the attributes that place the data: ``location_claims`` loads just these, and
    # reading another (deferred) one would cost a query per dataset.
    values = {
        name: changes[name] if name in changes else getattr(dataset, name)
        for name in ("storage_kind", "location", "connection")
    }
    return physical_location(
        storage_kind=values["storage_kind"],
        location=values["location"],
        connection=values["connection"],
    )


def location_claims(*, excluding: Dataset | None = None):
    """(dataset, physical location) of every dataset that holds its location: all but retired
    ones (a retired dataset's data moved or went; its location may be cataloged again)."""
    others = Dataset.objects.exclude(status=Dataset.Status.RETIRED).exclude(location="")
    if excluding is not None and excluding.pk is not None:
        others = others.exclude(pk=excluding.pk)
    for other in others.only("pk", "slug", "storage_kind", "location", "connection"):
        yield other, location_of(other)


def location_refusal(location: Location, *, dataset: Dataset | None = None) -> Refusal | None:
    """A physical location belongs to exactly one dataset: refuse a location equal to, inside
    or around another dataset's. (The service serialises these checks with a lock.)"""
    if not location.is_known:
        return None
    for _other, claimed in location_claims(excluding=dataset):
        if overlaps(location, claimed):
            return conflict(MSG_LOCATION_TAKEN, field="location")
    return None


def source_refusal(dataset: Dataset, source: Location) -> Refusal | None:
    """A scan (or any read of a store on a dataset's behalf) may not read another dataset's
    location."""
    for _other, claimed in location_claims(excluding=dataset):
        if overlaps(source, claimed):
            return conflict(MSG_SCAN_OTHER_DATASET, field="path")
    return None


def _active(user: User | None) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)
