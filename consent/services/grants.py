"""Give a service account a consent capability: a source system records events
(consent.add_consentevent), a training job filters and exports (consent.query_consent)."""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.db import transaction

from consent import policy
from governance.accounts.models import ServiceAccount, User
from governance.audit import services as audit
from governance.errors import ApplicationError
from governance.policy import require

CAPABILITIES = {
    "record": "add_consentevent",
    "query": "query_consent",
}

MSG_GRANT_FORBIDDEN = policy.MSG_CAPABILITY_FORBIDDEN
MSG_REVOKED_ACCOUNT = "This service account is revoked."


@transaction.atomic
def service_account_consent_grant(
    *,
    service_account: ServiceAccount,
    capabilities: list[str],
    actor: User | None,
    revoke: bool = False,
) -> set[str]:
    """Add (or with ``revoke`` remove) the permissions behind ``capabilities`` on the service
    account's user. Returns the consent permissions the account holds afterwards."""
    require(policy.may_grant_capabilities(actor))
    if not service_account.is_active:
        raise ApplicationError(MSG_REVOKED_ACCOUNT)
    unknown = sorted(set(capabilities) - set(CAPABILITIES))
    if unknown:
        raise ApplicationError(f"Unknown capability: {', '.join(unknown)}; use record or query.")
    permissions = Permission.objects.filter(
        content_type__app_label="consent", codename__in=[CAPABILITIES[c] for c in capabilities]
    )
    user = service_account.user
    if revoke:
        user.user_permissions.remove(*permissions)
    else:
        user.user_permissions.add(*permissions)
    held = set(
        user.user_permissions.filter(content_type__app_label="consent").values_list(
            "codename", flat=True
        )
    )
    audit.record(
        action="consent.capability_revoked" if revoke else "consent.capability_granted",
        target=service_account,
        actor=actor,
        data={"capabilities": sorted(capabilities), "permissions": sorted(held)},
    )
    return held
