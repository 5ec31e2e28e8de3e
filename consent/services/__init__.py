"""Writes for the consent app, each in one transaction with its ledger event.

purposes: purpose_create / _update / _submit / _activate / _return / _retire / _new_version,
          notice_version_publish
events:   consent_record, consent_record_batch, consent_withdraw
queries:  consent_filter, consent_export_start / _complete, receipt_issue
"""

from consent.services.events import (
    BATCH_LIMIT,
    CLOCK_SKEW,
    BatchConflict,
    BatchRejected,
    EventInput,
    Recorded,
    consent_record,
    consent_record_batch,
    consent_withdraw,
)
from consent.services.purposes import (
    EDITABLE_FIELDS,
    notice_hash,
    notice_version_publish,
    purpose_activate,
    purpose_create,
    purpose_new_version,
    purpose_problems,
    purpose_retire,
    purpose_return,
    purpose_submit,
    purpose_update,
)
from consent.services.queries import (
    FilterAnswer,
    consent_export_complete,
    consent_export_start,
    consent_filter,
    export_lines,
    receipt_issue,
)

__all__ = [
    "BATCH_LIMIT",
    "CLOCK_SKEW",
    "EDITABLE_FIELDS",
    "BatchConflict",
    "BatchRejected",
    "EventInput",
    "FilterAnswer",
    "Recorded",
    "consent_export_complete",
    "consent_export_start",
    "consent_filter",
    "consent_record",
    "consent_record_batch",
    "consent_withdraw",
    "export_lines",
    "notice_hash",
    "notice_version_publish",
    "purpose_activate",
    "purpose_create",
    "purpose_new_version",
    "purpose_problems",
    "purpose_retire",
    "purpose_return",
    "purpose_submit",
    "purpose_update",
    "receipt_issue",
]
