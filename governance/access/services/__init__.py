"""Writes of access governance; each checks who may do it and records its ledger event."""

from governance.access.services.approvals import (
    purpose_approval_create,
    purpose_approval_revoke,
    training_current_until,
    training_record,
)
from governance.access.services.check import CheckResult, check_access
from governance.access.services.grants import (
    access_request_approve,
    access_request_comment,
    access_request_create,
    access_request_deny,
    access_request_withdraw,
    grant_acknowledge,
    grant_create_direct,
    grant_get,
    grant_revoke,
    grants_expire,
)

__all__ = [
    "CheckResult",
    "access_request_approve",
    "access_request_comment",
    "access_request_create",
    "access_request_deny",
    "access_request_withdraw",
    "check_access",
    "grant_acknowledge",
    "grant_create_direct",
    "grant_get",
    "grant_revoke",
    "grants_expire",
    "purpose_approval_create",
    "purpose_approval_revoke",
    "training_current_until",
    "training_record",
]
