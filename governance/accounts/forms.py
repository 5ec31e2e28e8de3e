from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache

from governance.accounts.selectors import person_choices
from governance.accounts.services import MSG_NAME_INVALID, SERVICE_ACCOUNT_NAME

LOCKOUT_ATTEMPTS = 10
LOCKOUT_SECONDS = 15 * 60
MSG_LOCKED = "Too many failed sign-in attempts for this account. Try again in 15 minutes."


def _lockout_key(username: str) -> str:
    return f"login-failures:{username.strip().lower()}"


class LoginForm(AuthenticationForm):
    """Django's login form plus a per-username lockout after repeated failures, so a password
    cannot be guessed through the portal."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": MSG_LOCKED,
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if username and cache.get(_lockout_key(username), 0) >= LOCKOUT_ATTEMPTS:
            # A refused attempt while locked is a failed sign-in too: the ledger and the
            # alert on failed authentications must see every one, not the first ten.
            from governance.audit import services as audit

            name = username[:150]
            audit.record(
                action="auth.login_failed",
                actor=None,
                object_repr=name,
                data={"username": name, "reason": "locked"},
            )
            raise forms.ValidationError(self.error_messages["locked"], code="locked")
        try:
            return super().clean()
        except forms.ValidationError:
            if username:
                key = _lockout_key(username)
                cache.add(key, 0, LOCKOUT_SECONDS)
                try:
                    cache.incr(key)
                except ValueError:
                    cache.set(key, 1, LOCKOUT_SECONDS)
            raise

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        cache.delete(_lockout_key(user.get_username()))


class ServiceAccountCreateForm(forms.Form):
    name = forms.CharField(max_length=64, help_text="e.g. fraud-model-training")
    owner = forms.ModelChoiceField(
        queryset=person_choices(),
        to_field_name="username",
        help_text="The person accountable for this training job.",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not SERVICE_ACCOUNT_NAME.match(name):
            raise forms.ValidationError(MSG_NAME_INVALID)
        return name


class ServiceAccountRevokeForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=1000)


class ServiceAccountTransferForm(forms.Form):
    owner = forms.ModelChoiceField(
        queryset=person_choices(),
        to_field_name="username",
        help_text="The person accountable for the job from now on.",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=1000)
