"""Two-factor sign-in: TOTP (django-otp's TOTPDevice: RFC 6238, drift tolerance, replay and
brute-force throttling) plus single-use recovery codes stored as keyed digests.

A session is *verified* when it carries a marker written at verification, naming the device
and the person's ``second_factor_epoch``. A reset raises the epoch, so every session verified
before stops counting at once; checking the marker costs no query (the user row is loaded
anyway). ``SecondFactorMiddleware`` sends people who must use a second factor
(``accounts.policy.requires_second_factor``) to verification or enrolment before any other
page, and answers the API's session callers 403 ``second_factor_required``; bearer tokens
(service accounts) are not concerned.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from io import BytesIO
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from governance.accounts import policy
from governance.accounts.models import RecoveryCode, User
from governance.audit import services as audit
from governance.errors import ApplicationError
from governance.policy import require

SESSION_KEY = "second_factor"
RECOVERY_CODES = 10
MSG_WRONG_CODE = "That code is not right (or was used already). Try the next code."
MSG_THROTTLED = "Too many wrong codes. Wait {seconds} seconds, then try again."
MSG_NOT_ENROLLING = "Start the set-up again: no authenticator is waiting for confirmation."
MSG_REQUIRED_API = (
    "Your role requires a second factor: sign in through the portal and verify it first."
)


# --- the session ---------------------------------------------------------------------------


def is_verified(request) -> bool:
    marker = request.session.get(SESSION_KEY)
    user = request.user
    return bool(
        marker
        and user.is_authenticated
        and marker.get("user") == user.pk
        and marker.get("epoch") == user.second_factor_epoch
    )


def _mark_verified(request, user: User, how: str) -> None:
    request.session.cycle_key()  # a new session id once the second factor is in
    request.session[SESSION_KEY] = {
        "user": user.pk,
        "epoch": user.second_factor_epoch,
        "how": how,
        "at": timezone.now().isoformat(),
    }


def has_authenticator(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


# --- enrolment -----------------------------------------------------------------------------


def enrolment_start(*, user: User) -> TOTPDevice:
    """An unconfirmed authenticator for ``user`` (reused while they have not confirmed it)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return device


def provisioning_uri(device: TOTPDevice) -> str:
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    issuer = settings.SECOND_FACTOR_ISSUER
    label = f"{issuer}:{device.user.get_username()}"
    query = urlencode({"secret": secret, "issuer": issuer, "digits": device.digits})
    return f"otpauth://totp/{label}?{query}"


def secret_for_display(device: TOTPDevice) -> str:
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_svg(uri: str) -> str:
    """The provisioning URI as an SVG QR code (no inline style: the CSP allows none)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=8)
    buffer = BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode()


def _check_totp_allowed(device: TOTPDevice) -> None:
    allowed, details = device.verify_is_allowed()
    if not allowed:
        wait = (details or {}).get("locked_until")
        seconds = max(1, int((wait - timezone.now()).total_seconds())) if wait else 10
        raise ApplicationError(MSG_THROTTLED.format(seconds=seconds), {"field": "code"})


def _check_totp(device: TOTPDevice, code: str) -> bool:
    _check_totp_allowed(device)
    return device.verify_token(code.replace(" ", ""))


def enrolment_confirm(*, request, user: User, code: str) -> list[str]:
    """Confirm the waiting authenticator with a code from it; returns the recovery codes
    (shown once). The session is verified from now on. (Failures are recorded and throttled
    outside any transaction, so a refusal cannot roll its own record back.)"""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        raise ApplicationError(MSG_NOT_ENROLLING, {"field": "code"})
    if not _check_totp(device, code):
        audit.record(action="auth.second_factor_failed", target=user, actor=user)
        raise ApplicationError(MSG_WRONG_CODE, {"field": "code"})
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()  # one authenticator
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _new_recovery_codes(user)
        audit.record(action="auth.second_factor_enrolled", target=user, actor=user)
    _mark_verified(request, user, "totp")
    return codes


# --- verification --------------------------------------------------------------------------


def _digest(user: User, code: str, key: str | None = None) -> str:
    normalized = code.replace(" ", "").replace("-", "").upper()
    message = f"{user.pk}:{normalized}".encode()
    secret = (key or settings.SECRET_KEY).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _digests(user: User, code: str) -> list[str]:
    """Under the current key and every SECRET_KEY_FALLBACKS one: codes made before a key
    rotation keep working while the old key is a fallback."""
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [_digest(user, code, key) for key in keys]


def _new_recovery_codes(user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(6)).decode().rstrip("=")  # 48 bits
        codes.append(f"{raw[:5]}-{raw[5:]}")
    RecoveryCode.objects.bulk_create(
        [RecoveryCode(user=user, digest=_digest(user, code)) for code in codes]
    )
    return codes


def verify(*, request, user: User, code: str) -> str:
    """Check a code (TOTP, or a recovery code, used once) and verify the session; returns
    "totp" or "recovery". Wrong codes are ledger events and throttled (the authenticator's
    back-off covers recovery codes too)."""
    code = (code or "").strip()
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is not None and code.replace(" ", "").isdigit():
        if _check_totp(device, code):
            _mark_verified(request, user, "totp")
            audit.record(action="auth.second_factor_verified", target=user, actor=user)
            return "totp"
    elif code:
        if device is not None:
            _check_totp_allowed(device)
        # Single use without a lock: the first update wins, a concurrent second one finds
        # the code used.
        used = RecoveryCode.objects.filter(
            user=user, digest__in=_digests(user, code), used_at=None
        ).update(used_at=timezone.now())
        if used:
            _mark_verified(request, user, "recovery")
            left = RecoveryCode.objects.filter(user=user, used_at=None).count()
            audit.record(
                action="auth.recovery_code_used",
                target=user,
                actor=user,
                data={"codes_left": left},
            )
            return "recovery"
        if device is not None:
            device.throttle_increment()
    audit.record(action="auth.second_factor_failed", target=user, actor=user)
    raise ApplicationError(MSG_WRONG_CODE, {"field": "code"})


@transaction.atomic
def recovery_codes_renew(*, request, user: User) -> list[str]:
    if not is_verified(request):
        raise ApplicationError(MSG_REQUIRED_API)
    codes = _new_recovery_codes(user)
    audit.record(action="auth.recovery_codes_renewed", target=user, actor=user)
    return codes


@audit.records_refusal("auth.second_factor_reset_refused", target="user", actor="actor")
@transaction.atomic
def second_factor_reset(*, actor: User, user: User, reason: str) -> None:
    """An administrator resets another person's second factor (lost phone and codes): the
    authenticator and codes go, every verified session of that person stops counting, and
    their next sign-in enrols again."""
    require(policy.may_reset_second_factor(actor, user))
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("Give the reason (e.g. the ticket of the identity check).")
    TOTPDevice.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()
    User.objects.filter(pk=user.pk).update(second_factor_epoch=user.second_factor_epoch + 1)
    user.second_factor_epoch += 1
    audit.record(
        action="auth.second_factor_reset", target=user, actor=actor, data={"reason": reason}
    )


# --- the middleware ------------------------------------------------------------------------

_OPEN_PREFIXES = ("/static/", "/healthz", "/favicon.ico", "/o/")


class SecondFactorMiddleware:
    """After AuthenticationMiddleware: people whose role requires a second factor reach only
    the sign-in, verification and enrolment pages until their session is verified."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(_OPEN_PREFIXES)
            and policy.requires_second_factor(user)
            and not is_verified(request)
        ):
            open_paths = {
                reverse("login"),
                reverse("logout"),
                reverse("second-factor-verify"),
                reverse("second-factor-setup"),
            }
            if request.path not in open_paths:
                return self._stop(request, user)
        return self.get_response(request)

    @staticmethod
    def _stop(request, user):
        if request.path.startswith("/api/"):
            from governance.api.errors import error_body

            body = error_body("second_factor_required", MSG_REQUIRED_API)
            return JsonResponse(body, status=403)
        target = "second-factor-verify" if has_authenticator(user) else "second-factor-setup"
        return HttpResponseRedirect(
            f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}"
        )
