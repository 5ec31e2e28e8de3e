from __future__ import annotations

from django.utils import timezone

from datasets.models import Dataset
from datasets.rules import sensitivity_of
from governance.errors import ApplicationError, NotPermitted

MSG_MANAGE_FORBIDDEN = "You do not steward this dataset."
MSG_RETIRED = "This dataset is retired; reopen it first."
MSG_NOT_DRAFT = (
    "Classification can change only while the dataset is a draft; reopen it first (an approved "
    "dataset then needs a new review)."
)


def can_manage(user, dataset: Dataset) -> bool:
    """Admins manage every dataset; a steward only those they were made steward of."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.has_perm("datasets.change_dataset") or user.has_perm(
        "datasets.change_dataset", dataset
    )


def require_manage(user, dataset: Dataset) -> None:
    if not can_manage(user, dataset):
        raise NotPermitted(MSG_MANAGE_FORBIDDEN)


def require_draft(dataset: Dataset) -> None:
    if dataset.status != Dataset.Status.DRAFT:
        raise ApplicationError(MSG_NOT_DRAFT, {"status": dataset.status})


def refresh_sensitivity(dataset: Dataset) -> str:
    """Recompute the derived sensitivity from the fields and store it if it changed."""
    level = sensitivity_of(dataset.fields.all().only("role", "special_category"))
    if dataset.sensitivity != level:
        dataset.sensitivity = level
        dataset.updated_at = timezone.now()
        dataset.save(update_fields=["sensitivity", "updated_at"])
    return level
