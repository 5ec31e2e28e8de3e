"""What every app's policy module answers with.

Each app has one ``policy.py`` that owns its "who may" and "what counts" rules. A rule answers
two questions and the two answers can never disagree, because both live in the same module and
a test walks every persona through both:

- *this object?* ``may_<verb>(user, obj) -> Refusal | None`` — ``None`` means allowed; a
  ``Refusal`` carries the message a person can act on and the error it becomes;
- *which ones?* ``<verb>able_by(user) -> Q`` — the same rule as a queryset filter, for lists,
  inboxes and counts.

Services call the object form before they write (``require(may_x(...))``); selectors and list
views use the filter form; templates receive the answer (``can_x``) instead of re-deriving it.
See docs/architecture.md, "Where each rule lives".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from governance.errors import ApplicationError, Conflict, NotFound, NotPermitted


@dataclass(frozen=True)
class Refusal:
    """Why a rule says no: a message a person can act on, and the error class it becomes
    (403 by default; 409 for "not now" rules, 404 where existence must not be disclosed)."""

    message: str
    error_class: type[ApplicationError] = NotPermitted
    extra: dict[str, Any] = field(default_factory=dict)

    def error(self) -> ApplicationError:
        return self.error_class(self.message, dict(self.extra))

    @property
    def code(self) -> str:
        return self.error_class.code


def forbidden(message: str, **extra: Any) -> Refusal:
    return Refusal(message, NotPermitted, extra)


def conflict(message: str, **extra: Any) -> Refusal:
    return Refusal(message, Conflict, extra)


def not_found(message: str, **extra: Any) -> Refusal:
    return Refusal(message, NotFound, extra)


def invalid(message: str, **extra: Any) -> Refusal:
    return Refusal(message, ApplicationError, extra)


def holds_permission(user, perm: str) -> bool:
    """The account holds ``perm`` ("app_label.codename") through its groups (roles) or given
    to it directly — unlike ``User.has_perm``, the superuser flag counts for nothing here:
    superuser is Django admin's switch, not a governance role. Inactive accounts hold nothing.
    Read once per account instance."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    cached = user.__dict__.get("_governed_perms")
    if cached is None:
        from django.contrib.auth.models import Permission
        from django.db.models import Q

        cached = {
            f"{app}.{codename}"
            for app, codename in Permission.objects.filter(
                Q(group__user=user) | Q(user=user)
            ).values_list("content_type__app_label", "codename")
        }
        user.__dict__["_governed_perms"] = cached
    return perm in cached


def require(refusal: Refusal | None) -> None:
    """Raise the refusal's error, if there is one."""
    if refusal is not None:
        raise refusal.error()


def first(*refusals: Refusal | None) -> Refusal | None:
    """The first refusal among several rules, or None when every one allows."""
    return next((r for r in refusals if r is not None), None)


def visible_text(value: str | None) -> str:
    """What a reader sees of ``value``: without invisible format characters (zero-width spaces
    and joiners, bidi marks, BOM: Unicode category Cf) and without surrounding whitespace. A
    note that is only invisible characters is no note; the stored text is left as written."""
    import unicodedata

    return "".join(c for c in (value or "") if unicodedata.category(c) != "Cf").strip()


# --- sign-offs ---------------------------------------------------------------------------------

MSG_SIGNOFF_NOTE = "Write the note that goes on record with your sign-off."
MSG_SIGNOFF_CHECKLIST = "Confirm every item of the checklist before signing off."


def signoff_problems(items: list[tuple[str, str]], *, note: str, confirmed: Any) -> dict[str, str]:
    """What is missing from a legal sign-off made through a checklist (the portal's dataset
    approval and purpose activation): a note, and every item of the checklist confirmed.
    ``items`` come from the app's own rule (``signoff_checklist``); empty when complete."""
    problems: dict[str, str] = {}
    if not visible_text(note):
        problems["note"] = MSG_SIGNOFF_NOTE
    if {key for key, _ in items} - set(confirmed or ()):
        problems["checklist"] = MSG_SIGNOFF_CHECKLIST
    return problems


MSG_SIGNOFF_STALE = (
    "What you reviewed changed: below is {what} version {version} as it is now. Read it again "
    "before you sign off."
)


def fingerprint(document: Any) -> str:
    """A digest of what a person saw (a review's classification, a purpose's contents): a
    sign-off or confirmation carries it so that it is of *that*, not of whatever is there when
    the form arrives."""
    import hashlib
    import json

    return hashlib.sha256(
        json.dumps(document, sort_keys=True, default=str, separators=(",", ":")).encode()
    ).hexdigest()


def stale_signoff(
    *,
    seen_version: int | None,
    seen_fingerprint: str | None,
    version: int,
    current_fingerprint: str,
    what: str,
) -> Refusal | None:
    """A sign-off names the version (and fingerprint) it was made on; when either is given and
    differs from what is there now, it is refused (409) — the signer must look again. Neither
    given (an API client that names nothing) is not stale."""
    if seen_version is None and not seen_fingerprint:
        return None
    if (seen_version is not None and seen_version != version) or (
        seen_fingerprint and seen_fingerprint != current_fingerprint
    ):
        return conflict(
            MSG_SIGNOFF_STALE.format(what=what, version=version),
            version=version,
            stale_signoff=True,
        )
    return None


# --- free text ---------------------------------------------------------------------------------

# How much a person may write where others must read it (approvers' inboxes, request pages):
# long enough for any honest reason, short enough that a page of them stays a page.
MAX_JUSTIFICATION = 4_000
MAX_NOTE = 2_000  # comments, approval notes, reasons
MSG_TEXT_TOO_LONG = "Keep it to {limit:,} characters or fewer (this has {length:,})."


def text_too_long(value: str | None, *, limit: int) -> str | None:
    """The message when ``value`` (as it will be stored: stripped) is longer than ``limit``."""
    length = len((value or "").strip())
    if length > limit:
        return MSG_TEXT_TOO_LONG.format(limit=limit, length=length)
    return None
