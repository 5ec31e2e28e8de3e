"""Who handles and who reads subject access requests — the one owner of these rules.

Privacy officers handle them: record a verified request, produce the package, download it to
send it, extend, refuse or close the request. Auditors and administrators read the requests
(dates, status, the package's SHA-256 and what was searched) and change nothing; they never
download a package, which is one person's data gathered from every store. Nobody else sees
them."""

from __future__ import annotations

from django.db.models import Q

from governance.accounts.models import User
from governance.accounts.policy import holds_role
from governance.accounts.roles import Role
from governance.policy import Refusal, conflict, forbidden

MSG_HANDLE = "Only privacy officers handle subject access requests."
MSG_READ = "Only privacy officers, auditors and administrators see subject access requests."
MSG_CLOSED = "The request is closed ({status}); nothing more can change."
MSG_NO_PACKAGE = "No package has been produced for this request yet."


def _person(user: User | None) -> bool:
    return user is not None and not getattr(user, "is_service_account", False)


def may_handle(user: User | None) -> Refusal | None:
    if _person(user) and holds_role(user, Role.PRIVACY_OFFICER):
        return None
    return forbidden(MSG_HANDLE)


def may_read(user: User | None) -> Refusal | None:
    if _person(user) and holds_role(user, Role.PRIVACY_OFFICER, Role.AUDITOR, Role.ADMIN):
        return None
    return forbidden(MSG_READ)


def visible_to(user: User | None) -> Q:
    return Q() if may_read(user) is None else Q(pk__in=[])


def may_change(user: User | None, request) -> Refusal | None:
    """Produce, extend, refuse or close: a privacy officer, while the request is open."""
    refusal = may_handle(user)
    if refusal is not None:
        return refusal
    if request.status != request.Status.OPEN:
        return conflict(MSG_CLOSED.format(status=request.status))
    return None


def may_download(user: User | None, request) -> Refusal | None:
    """The package: a privacy officer, while the request is open and a package exists."""
    refusal = may_change(user, request)
    if refusal is not None:
        return refusal
    if not request.has_package:
        return conflict(MSG_NO_PACKAGE)
    return None
