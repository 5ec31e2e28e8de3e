"""Reads of the catalog. Who sees which dataset is ``datasets.policy.visible_to`` (privacy
officers, auditors and administrators all; stewards theirs and approved ones; anyone else
approved ones), applied here, never in templates."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.urls import reverse

from datasets import policy
from datasets.models import DataCategory, Dataset, Field, Scan, Suggestion
from datasets.taxonomy import Role
from governance.accounts.models import User
from governance.accounts.policy import holds_role
from governance.audit.models import LedgerEntry
from governance.errors import NotFound

MSG_DATASET_NOT_FOUND = "No such dataset."
MSG_SCAN_NOT_FOUND = "No such scan."
MSG_SUGGESTION_NOT_FOUND = "No such suggestion."
MSG_FIELD_NOT_FOUND = "No such field."


@dataclass(frozen=True)
class DatasetFilters:
    q: str = ""
    status: str = ""
    sensitivity: str = ""
    owner: str = ""
    tag: str = ""
    category: str = ""
    mine: bool = False


def dataset_list(*, viewer: User, filters: DatasetFilters | None = None) -> QuerySet[Dataset]:
    filters = filters or DatasetFilters()
    queryset = (
        Dataset.objects.select_related("owner")
        .prefetch_related("tags")
        .annotate(field_count=Count("fields", distinct=True))
    )
    queryset = queryset.filter(policy.visible_to(viewer))
    if filters.mine:
        queryset = queryset.filter(policy.stewarded_by(viewer))
    if filters.q:
        queryset = queryset.filter(
            Q(slug__icontains=filters.q)
            | Q(name__icontains=filters.q)
            | Q(description__icontains=filters.q)
            | Q(fields__name__icontains=filters.q)
        ).distinct()
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.sensitivity:
        queryset = queryset.filter(sensitivity=filters.sensitivity)
    if filters.owner:
        queryset = queryset.filter(owner__username=filters.owner)
    if filters.tag:
        queryset = queryset.filter(tags__name=filters.tag)
    if filters.category:
        queryset = queryset.filter(
            Q(fields__category__key=filters.category)
            | Q(fields__category__key__startswith=f"{filters.category}.")
        ).distinct()
    return queryset.order_by("slug")


def dataset_get_for(*, viewer: User, slug: str) -> Dataset:
    """The dataset if the viewer may see it; otherwise NotFound (existence is not disclosed)."""
    try:
        return dataset_list(viewer=viewer).get(slug=slug)
    except Dataset.DoesNotExist:
        raise NotFound(MSG_DATASET_NOT_FOUND) from None


def dataset_permissions(*, viewer: User, dataset: Dataset) -> dict[str, bool]:
    """What the viewer may do with the dataset, as the rules answer it: templates and API
    responses show these instead of re-deriving them."""
    return {
        "can_manage": policy.may_manage(viewer, dataset) is None,
        "can_change_location": policy.may_change(viewer, dataset, ["location"]) is None,
        "can_classify": policy.may_classify(viewer, dataset) is None,
        "can_scan": policy.may_scan(viewer, dataset) is None,
        "can_approve": dataset.status == Dataset.Status.IN_REVIEW
        and policy.may_approve(viewer, dataset) is None,
        "can_return": dataset.status == Dataset.Status.IN_REVIEW
        and policy.may_return(viewer, dataset) is None,
    }


def dataset_fields(*, dataset: Dataset) -> QuerySet[Field]:
    return dataset.fields.select_related("category", "classified_by").order_by("position", "name")


def dataset_history(*, dataset: Dataset, limit: int = 50) -> QuerySet[LedgerEntry]:
    """Ledger entries about the dataset, its fields, reviews and scans."""
    field_ids = [str(pk) for pk in dataset.fields.values_list("pk", flat=True)]
    scan_ids = [str(pk) for pk in dataset.scans.values_list("pk", flat=True)]
    review_ids = [str(pk) for pk in dataset.reviews.values_list("pk", flat=True)]
    about = (
        Q(
            content_type__app_label="datasets",
            content_type__model="dataset",
            object_pk=str(dataset.pk),
        )
        | Q(
            content_type__app_label="datasets", content_type__model="field", object_pk__in=field_ids
        )
        | Q(content_type__app_label="datasets", content_type__model="scan", object_pk__in=scan_ids)
        | Q(
            content_type__app_label="datasets",
            content_type__model="datasetreview",
            object_pk__in=review_ids,
        )
    )
    return (
        LedgerEntry.objects.filter(about)
        .select_related("content_type")
        .order_by("-timestamp", "-id")[:limit]
    )


def field_get_for(*, viewer: User, dataset: Dataset, name: str) -> Field:
    try:
        return dataset.fields.select_related("category").get(name=name)
    except Field.DoesNotExist:
        raise NotFound(MSG_FIELD_NOT_FOUND) from None


def scan_get_for(*, viewer: User, dataset: Dataset, scan_id: int) -> Scan:
    try:
        return dataset.scans.get(pk=scan_id)
    except (Scan.DoesNotExist, ValueError):
        raise NotFound(MSG_SCAN_NOT_FOUND) from None


def suggestion_risk() -> Case:
    """Riskiest first: a possible special category, then columns left to a person (they could
    be anything), then direct identifiers, sensitive attributes, quasi-identifiers and last
    what looks non-personal."""
    return Case(
        When(~Q(special_category=""), then=Value(0)),
        When(role="", then=Value(1)),
        When(role=Role.DIRECT_IDENTIFIER, then=Value(2)),
        When(role=Role.SENSITIVE, then=Value(3)),
        When(role=Role.QUASI_IDENTIFIER, then=Value(4)),
        default=Value(5),
        output_field=IntegerField(),
    )


def suggestion_queue(
    *, viewer: User, dataset: Dataset, status: str = "suggested"
) -> QuerySet[Suggestion]:
    """The review queue, riskiest first (``suggestion_risk``), then newest scan, then column
    order."""
    queryset = Suggestion.objects.filter(field__dataset=dataset).select_related(
        "field", "category", "scan", "decided_by"
    )
    if status:
        queryset = queryset.filter(status=status)
    return queryset.annotate(risk=suggestion_risk()).order_by(
        "risk", "-scan__created_at", "field__position", "field__name"
    )


def suggestion_get_for(*, viewer: User, suggestion_id: int) -> Suggestion:
    """A suggestion of a dataset the viewer may see."""
    try:
        suggestion = Suggestion.objects.select_related("field__dataset", "category").get(
            pk=suggestion_id
        )
    except (Suggestion.DoesNotExist, ValueError):
        raise NotFound(MSG_SUGGESTION_NOT_FOUND) from None
    if policy.may_view(viewer, suggestion.field.dataset) is not None:
        raise NotFound(MSG_SUGGESTION_NOT_FOUND)
    return suggestion


def category_list() -> QuerySet[DataCategory]:
    return DataCategory.objects.order_by("key")


def taxonomy_entries() -> list[tuple[str, str, str]]:
    """Every category as (key, name, special category), for other apps (``taxonomy_provider``
    on the AppConfig)."""
    return list(DataCategory.objects.order_by("key").values_list("key", "name", "special_category"))


def category_get(key: str | None) -> DataCategory | None:
    if not key:
        return None
    try:
        return DataCategory.objects.get(key=key)
    except DataCategory.DoesNotExist:
        from governance.errors import ApplicationError

        raise ApplicationError(f"Unknown data category {key!r}.", {"field": "category"}) from None


def dashboard_panels(user: User) -> list[dict]:
    """Stewards: suggestions to review per dataset and drafts ready to submit; privacy officers:
    datasets waiting for their sign-off. Each item links to where the person acts."""
    panels = []
    if holds_role(user, "steward"):
        mine = Dataset.objects.filter(policy.stewarded_by(user))
        queues = (
            mine.annotate(
                pending=Count(
                    "fields__suggestions",
                    filter=Q(fields__suggestions__status=Suggestion.Status.SUGGESTED),
                )
            )
            .filter(pending__gt=0)
            .order_by("-pending", "slug")
            .values_list("slug", "pending")[:5]
        )
        todo = [
            {
                "label": f"Review {n} suggestion{'' if n == 1 else 's'} of {slug}",
                "count": n,
                "url": reverse("datasets:review", args=[slug]),
                "testid": "review-suggestions",
            }
            for slug, n in queues
        ]
        drafts = list(
            mine.filter(status=Dataset.Status.DRAFT)
            .annotate(
                unclassified=Count("fields", filter=Q(fields__role="")),
                total=Count("fields"),
            )
            .order_by("slug")
            .values_list("slug", "unclassified", "total")[:5]
        )
        for slug, unclassified, total in drafts:
            ready = total and not unclassified
            todo.append(
                {
                    "label": f"Submit {slug} for privacy review"
                    if ready
                    else f"Classify {unclassified or 'the'} field{'' if unclassified == 1 else 's'}"
                    f" of {slug}",
                    "count": unclassified,
                    "url": reverse("datasets:submit" if ready else "datasets:detail", args=[slug]),
                    "testid": "submit-draft" if ready else "classify-draft",
                }
            )
        panels.append(
            {
                "role": "Your datasets",
                "stats": [
                    ("Datasets you steward", mine.count()),
                    (
                        "Waiting for privacy review",
                        mine.filter(status=Dataset.Status.IN_REVIEW).count(),
                    ),
                ],
                "todo": todo,
                "empty": "Nothing to review: every suggestion is decided.",
                "link": ("Open the catalog", reverse("datasets:list") + "?mine=1"),
                "testid": "steward-panel",
            }
        )
    if holds_role(user, "privacy_officer"):
        waiting = list(
            Dataset.objects.filter(policy.awaiting_approval_by(user))
            .order_by("updated_at")
            .values_list("slug", "sensitivity")[:10]
        )
        panels.append(
            {
                "role": "Dataset sign-offs",
                "todo": [
                    {
                        "label": f"Sign off {slug} ({sensitivity})",
                        "count": "",
                        "url": reverse("datasets:detail", args=[slug]) + "#sign-off",
                        "urgent": sensitivity == "restricted",
                        "testid": "sign-off-dataset",
                    }
                    for slug, sensitivity in waiting
                ],
                "empty": "No dataset waits for your sign-off.",
                "link": ("Datasets in review", reverse("datasets:list") + "?status=in_review"),
                "testid": "signoff-panel",
            }
        )
    return panels


def reviews_for(dataset: Dataset):
    return dataset.reviews.select_related("submitted_by", "decided_by").order_by("-version")
