"""Who may read the ledger — the one owner of this rule. The ledger is the lowest app (it knows
no domain app), so the rule is the model permission ``audit.view_ledgerentry``, which the roles
declaration gives to auditors, privacy officers and administrators (and which an inactive
account never holds). Nobody may change the ledger: the database refuses it."""

from __future__ import annotations

from governance.policy import Refusal, forbidden, holds_permission

PERMISSION = "audit.view_ledgerentry"
MSG_NOT_PERMITTED = "Only auditors, privacy officers and administrators may read the audit log."


def may_read_ledger(user) -> Refusal | None:
    if holds_permission(user, PERMISSION):
        return None
    return forbidden(MSG_NOT_PERMITTED)
