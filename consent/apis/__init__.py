"""REST API under /api/v1/consent/: sources record events, training jobs filter and export,
people and jobs read purposes, subjects, receipts and snapshots."""

from consent.apis.events import EventBatchApi, EventRecordApi, SubjectDetailApi
from consent.apis.purposes import PurposeDetailApi, PurposeListApi
from consent.apis.queries import ConsentExportApi, ConsentFilterApi, ReceiptApi, SnapshotDetailApi

__all__ = [
    "ConsentExportApi",
    "ConsentFilterApi",
    "EventBatchApi",
    "EventRecordApi",
    "PurposeDetailApi",
    "PurposeListApi",
    "ReceiptApi",
    "SnapshotDetailApi",
    "SubjectDetailApi",
]
