"""Writes of the catalog. Each service checks who may do it, writes in one transaction and
records its audit event inside it."""

from datasets.services.catalog import (
    category_create,
    dataset_create,
    dataset_stewards,
    dataset_stewards_set,
    dataset_update,
    field_classify,
    field_create,
)
from datasets.services.lifecycle import (
    QUESTIONS,
    dataset_approve,
    dataset_reopen,
    dataset_retire,
    dataset_return,
    dataset_submit,
)
from datasets.services.scans import (
    scan_run,
    scan_start,
    suggestion_accept,
    suggestion_edit,
    suggestion_reject,
)

__all__ = [
    "QUESTIONS",
    "category_create",
    "dataset_approve",
    "dataset_create",
    "dataset_reopen",
    "dataset_retire",
    "dataset_return",
    "dataset_stewards",
    "dataset_stewards_set",
    "dataset_submit",
    "dataset_update",
    "field_classify",
    "field_create",
    "scan_run",
    "scan_start",
    "suggestion_accept",
    "suggestion_edit",
    "suggestion_reject",
]
