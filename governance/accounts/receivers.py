"""Logins, failed logins and logouts go to the ledger."""

from __future__ import annotations

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from governance.audit import services as audit


@receiver(user_logged_in, dispatch_uid="audit.login")
def _login(sender, request, user, **kwargs):
    audit.record(action="auth.login", target=user, actor=user)


@receiver(user_logged_out, dispatch_uid="audit.logout")
def _logout(sender, request, user, **kwargs):
    if user is not None:
        audit.record(action="auth.logout", target=user, actor=user)


@receiver(user_locked_out, dispatch_uid="audit.locked_out")
def _locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    username = str(username or "")[:150]
    audit.record(
        action="auth.locked_out",
        actor=None,
        object_repr=username,
        data={"username": username, "address": ip_address},
    )


@receiver(user_login_failed, dispatch_uid="audit.login_failed")
def _login_failed(sender, credentials, request=None, **kwargs):
    # Django has already replaced the password in ``credentials``; keep only the username.
    username = str(credentials.get("username", ""))[:150]
    audit.record(
        action="auth.login_failed", actor=None, object_repr=username, data={"username": username}
    )
