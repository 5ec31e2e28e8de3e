from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from governance.accounts import policy
from governance.accounts.models import User
from governance.accounts.services import MSG_NAME_INVALID, SERVICE_ACCOUNT_NAME


class LoginForm(AuthenticationForm):
    """Django's login form. Lockout after repeated failures is django-axes' (per username and
    address, settings AXES_*), for this form and Django admin alike (admin signs in here)."""


def _owner_choices():
    """People who may own a service account (the rule's filter form: the service refuses
    anyone else)."""
    return (
        User.objects.filter(policy.service_account_owner_candidates())
        .distinct()
        .order_by("username")
    )


class ServiceAccountCreateForm(forms.Form):
    name = forms.CharField(max_length=64, help_text="e.g. fraud-model-training")
    owner = forms.ModelChoiceField(
        queryset=_owner_choices(),
        to_field_name="username",
        help_text="The person accountable for this training job.",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    request = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not SERVICE_ACCOUNT_NAME.match(name):
            raise forms.ValidationError(MSG_NAME_INVALID)
        return name


MSG_UNDERSTOOD = "Tick the box to confirm: this cannot be undone."


class _Understood(forms.Form):
    understood = forms.BooleanField(required=False)

    def clean_understood(self):
        if not self.cleaned_data.get("understood"):
            raise forms.ValidationError(MSG_UNDERSTOOD)
        return True


class ServiceAccountRevokeForm(_Understood):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=1000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["understood"].label = (
            "I understand: the account stops at once, for good; its jobs fail until they use "
            "another account."
        )
        self.order_fields(["reason", "understood"])


class ServiceAccountRotateForm(_Understood):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["understood"].label = (
            "I understand: the current secret and every token stop working now; running jobs "
            "fail until they use the new secret."
        )


class ServiceAccountRequestForm(forms.Form):
    """The rules (name format, a description of the job) are the service's, which reports
    every problem at once; the form only carries the input."""

    name = forms.CharField(
        required=False,
        help_text="Lowercase letters, digits and hyphens, e.g. fraud-model-training",
    )
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="What will it run?",
        help_text="The job, the datasets it will read and for which purpose. "
        "Administrators read this.",
    )


class DeclineForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=1000)


class ServiceAccountTransferForm(forms.Form):
    owner = forms.ModelChoiceField(
        queryset=_owner_choices(),
        to_field_name="username",
        help_text="The person accountable for the job from now on.",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=1000)
